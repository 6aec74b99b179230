/**
 * The cluster benchmark's cross-node control phases: a revocation through one node closing sockets
 * on the others, and the devices of a `kill -9`ed node coming back online on the survivors.
 */
import mqtt, { type MqttClient } from "mqtt";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { BenchNode } from "./cluster-nodes.js";
import { cpuWindow, note, type CpuWindow } from "./cluster-phases.js";
import type { DeviceCredential } from "./device-credentials.js";
import type { Connected } from "./mqtt-load.js";
import { runPool } from "./pool.js";
import { summarize, type LatencySummary } from "./stats.js";

export interface RevokeFigures {
  /** Request sent → the device's TLS socket 'close'. */
  readonly closedMs: LatencySummary;
  /** Request sent → the admin API's answer (it waits for every node's kick count). */
  readonly answeredMs: LatencySummary;
  readonly notClosed: number;
  /** Sum of `sessionsClosedByNode` over every answer, and where the devices were connected. */
  readonly kicksByNode: Readonly<Record<string, number>>;
  readonly connectedByNode: Readonly<Record<string, number>>;
}

interface RevokeAnswer {
  readonly sessionsClosedByNode?: Record<string, number>;
}

function closedAt(connected: Connected, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (connected.client.stream.destroyed) return resolve(null);
    const timer = setTimeout(() => resolve(null), timeoutMs);
    connected.client.stream.once("close", () => {
      clearTimeout(timer);
      resolve(performance.now());
    });
  });
}

/** One revocation at a time through `via`'s admin API, each of a device connected to another node. */
export async function revokePhase(
  via: BenchNode,
  devices: readonly { readonly connected: Connected; readonly node: string }[],
  timeoutMs = 10_000,
): Promise<RevokeFigures> {
  const admin = via.admin();
  const closed: number[] = [];
  const answered: number[] = [];
  const kicksByNode: Record<string, number> = {};
  const connectedByNode: Record<string, number> = {};
  let notClosed = 0;
  for (const { connected, node } of devices) {
    connectedByNode[node] = (connectedByNode[node] ?? 0) + 1;
    const closing = closedAt(connected, timeoutMs);
    const started = performance.now();
    const answer = await admin.call<RevokeAnswer>("POST", `/v1/devices/${encodeURIComponent(connected.id)}/revoke`, {
      reason: "keyCompromise",
    });
    answered.push(performance.now() - started);
    for (const [id, n] of Object.entries(answer.sessionsClosedByNode ?? {}))
      kicksByNode[id] = (kicksByNode[id] ?? 0) + n;
    const at = await closing;
    if (at === null) notClosed++;
    else closed.push(at - started);
  }
  return { closedMs: summarize(closed), answeredMs: summarize(answered), notClosed, kicksByNode, connectedByNode };
}

export interface FailoverFigures {
  readonly devices: number;
  /** kill -9 → CONNACK on a surviving node, per device. */
  readonly reconnectMs: LatencySummary;
  /** kill -9 → the admin API lists every device online on a surviving node. */
  readonly listedOnlineMs: number | null;
  /** kill -9 → no session listed on the dead node any more. */
  readonly deadSessionsGoneMs: number | null;
  readonly notReconnected: number;
  /** CONNACKs with session present (persistent sessions resumed from Redis). */
  readonly sessionPresent: number;
  readonly reconnectedByNode: Readonly<Record<string, number>>;
  readonly reconnectPeriodMs: number;
  /** Connection attempts per device after the kill (1 = straight onto a survivor). */
  readonly attempts: LatencySummary;
  /** Error messages the devices saw meanwhile (refusals, resets), with counts. */
  readonly errors: Readonly<Record<string, number>>;
  /** The survivors' CPU from the kill until every device is back and listed (listing polls included). */
  readonly survivors: CpuWindow;
  readonly survivorCpuMsPerDevice: number;
  /** kill -9 → the device's socket 'close'; its last reconnect attempt → CONNACK (the survivor's part). */
  readonly closeSeenMs: LatencySummary;
  readonly attemptToConnackMs: LatencySummary;
}

export interface FailoverLoad {
  readonly victim: BenchNode;
  readonly survivors: readonly [BenchNode, BenchNode];
  readonly devices: readonly DeviceCredential[];
  readonly caPem: string;
  readonly reconnectPeriodMs: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
}

interface Device {
  readonly id: string;
  readonly client: MqttClient;
  reconnectedAt: number | null;
  port: number | null;
  sessionPresent: boolean;
  /** Connection attempts after the kill, and why the failed ones failed. */
  attempts: number;
  /** When the device saw its socket close, and when its last connection attempt began. */
  closedAt: number | null;
  attemptAt: number | null;
}

/** A persistent-session device whose list of servers starts with the victim (as DNS/balancer order would). */
function connectPersistent(load: FailoverLoad, credential: DeviceCredential, i: number): Promise<Device> {
  const [a, b] = i % 2 === 0 ? load.survivors : [load.survivors[1], load.survivors[0]];
  const servers = [load.victim, a, b].map((n) => ({ host: "127.0.0.1", port: n.mqttPort }));
  const client = mqtt.connect({
    protocol: "mqtts",
    servers,
    servername: "localhost",
    ca: load.caPem,
    cert: credential.certPem,
    key: credential.keyPem,
    clientId: credential.id,
    protocolVersion: 4,
    clean: false,
    keepalive: 1800,
    reconnectPeriod: load.reconnectPeriodMs,
    connectTimeout: load.timeoutMs,
  });
  client.on("error", () => undefined); // refusals while a node is dying: MQTT.js retries the next server
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${credential.id}: no CONNACK from the victim node`)),
      load.timeoutMs,
    );
    client.once("connect", () => {
      clearTimeout(timer);
      resolve({
        id: credential.id,
        client,
        reconnectedAt: null,
        port: null,
        sessionPresent: false,
        attempts: 0,
        closedAt: null,
        attemptAt: null,
      });
    });
  });
}

interface Listed {
  readonly id: string;
  readonly sessions?: readonly { node?: string }[];
}

/** Polls `device list --online` (the admin API) on a survivor until every device is on a survivor. */
async function watchListing(load: FailoverLoad, prefix: string, killedAt: number) {
  const admin = load.survivors[0].admin();
  const victim = load.victim.id;
  let listedOnlineMs: number | null = null;
  let deadSessionsGoneMs: number | null = null;
  while (performance.now() - killedAt < load.timeoutMs) {
    const listed = await admin.all<Listed>(`/v1/devices?online=true&prefix=${encodeURIComponent(prefix)}`);
    const sessions = listed.flatMap((d) => (d.sessions ?? []).map((s) => ({ id: d.id, node: s.node })));
    const onSurvivors = new Set(sessions.filter((s) => s.node !== victim).map((s) => s.id));
    const now = performance.now() - killedAt;
    if (listedOnlineMs === null && onSurvivors.size >= load.devices.length) listedOnlineMs = now;
    if (deadSessionsGoneMs === null && !sessions.some((s) => s.node === victim)) deadSessionsGoneMs = now;
    // The dead node's entries may outlive it (until membership drops it); 20 s is enough to tell.
    if (listedOnlineMs !== null && (deadSessionsGoneMs !== null || now > 20_000)) break;
    await sleep(100);
  }
  return { listedOnlineMs, deadSessionsGoneMs };
}

/** Devices on the victim with persistent sessions; `kill -9` it; time their return on the survivors. */
export async function failoverPhase(load: FailoverLoad, prefix: string): Promise<FailoverFigures> {
  const devices = await runPool(load.devices.length, load.concurrency, (i) =>
    connectPersistent(load, load.devices[i]!, i),
  );
  try {
    await runPool(devices.length, load.concurrency, (i) =>
      devices[i]!.client.subscribeAsync(`devices/${devices[i]!.id}/commands/#`, { qos: 1 }),
    );
    await sleep(1500); // the session directory and the persistent subscriptions are written
    const errors: Record<string, number> = {};
    for (const device of devices) {
      device.client.on("reconnect", () => {
        device.attempts++;
        device.attemptAt = performance.now();
      });
      device.client.once("close", () => void (device.closedAt = performance.now()));
      device.client.on("error", (error) => void (errors[error.message] = (errors[error.message] ?? 0) + 1));
      device.client.once("connect", (packet) => {
        device.reconnectedAt = performance.now();
        device.port = device.client.options.port ?? null;
        device.sessionPresent = packet.sessionPresent;
      });
    }
    note(`kill -9 node ${load.victim.id} (pid ${load.victim.server.pid}) with ${devices.length} devices on it`);
    const allBack = () => devices.every((d) => d.reconnectedAt !== null);
    let killedAt = 0;
    const { result: listing, window } = await cpuWindow(load.survivors, async () => {
      killedAt = performance.now();
      load.victim.server.process.kill("SIGKILL");
      const listed = await watchListing(load, prefix, killedAt);
      for (let waited = 0; !allBack() && waited < load.timeoutMs; waited += 100) await sleep(100);
      return listed;
    });
    const back = devices.filter((d) => d.reconnectedAt !== null);
    const byNode: Record<string, number> = {};
    for (const d of back) {
      const node = load.survivors.find((n) => n.mqttPort === d.port)?.id ?? `port ${d.port}`;
      byNode[node] = (byNode[node] ?? 0) + 1;
    }
    return {
      devices: devices.length,
      reconnectMs: summarize(back.map((d) => d.reconnectedAt! - killedAt)),
      ...listing,
      notReconnected: devices.length - back.length,
      sessionPresent: back.filter((d) => d.sessionPresent).length,
      reconnectedByNode: byNode,
      reconnectPeriodMs: load.reconnectPeriodMs,
      attempts: summarize(devices.map((d) => d.attempts)),
      survivors: window,
      closeSeenMs: summarize(devices.flatMap((d) => (d.closedAt === null ? [] : [d.closedAt - killedAt]))),
      attemptToConnackMs: summarize(
        back.flatMap((d) => (d.attemptAt === null ? [] : [d.reconnectedAt! - d.attemptAt])),
      ),
      survivorCpuMsPerDevice: window.nodesCpuMs / Math.max(1, back.length),
      errors,
    };
  } finally {
    for (const d of devices) d.client.end(true);
  }
}
