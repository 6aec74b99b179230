/**
 * The phases of the connections benchmark, the same on each broker: fresh-device admission at
 * rest, the idle fleet connected by the load processes (time, broker CPU, broker RSS), fresh-device
 * admission again with the fleet held, and (fleetgate only) revoke → socket closed at that load.
 * The bench's own probes run from this process on 127.0.0.1, one at a time.
 */
import { performance } from "node:perf_hooks";
import { createSecureContext } from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import type { AdminClient } from "../../src/adapters/cli/admin-client.js";
import type { DeviceCredential } from "./device-credentials.js";
import type { LoaderFleet } from "./loader-fleet.js";
import { selfCpuMs, systemCpu } from "./proc-cpu.js";
import { memoryBreakdown, type MemoryBreakdown } from "./proc-mem.js";
import { DISCONNECT, rawConnect, type RawSession, type RawTarget } from "./raw-mqtt.js";
import { summarize, type LatencySummary } from "./stats.js";

export interface Broker {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  cpuMs(): number | null;
}

export type ProbeFigures = LatencySummary & { failed: number; errors: string[] };

export interface FleetFigures {
  readonly requested: number;
  readonly connected: number;
  readonly failed: number;
  readonly errors: string[];
  readonly connectSeconds: number;
  readonly connectsPerSecond: number;
  /** Per session under the storm: TCP connect → CONNACK, as each load process saw it. */
  readonly connectLatency: LatencySummary;
  readonly brokerCpuMs: number;
  readonly brokerCpuUsPerConnection: number;
  readonly memoryBefore: MemoryBreakdown;
  readonly memoryAfter: MemoryBreakdown;
  readonly kibPerConnection: number;
  readonly loaders: { processes: number; cpuMs: number; rssKiB: number };
  /** Cores kept busy meanwhile by everything but the broker, the load processes and this bench. */
  readonly otherCoresBusy: number | null;
}

const note = (message: string) => console.error(`[bench] ${message}`);

function contextOf(device: DeviceCredential, caPem: string) {
  return createSecureContext({ ca: caPem, cert: device.certPem, key: device.keyPem });
}

function memoryOf(broker: Broker): MemoryBreakdown {
  const memory = memoryBreakdown(broker.pid);
  if (!memory) throw new Error(`${broker.name} (pid ${broker.pid}): no /proc/PID/status (is it gone?)`);
  return memory;
}

/** Fresh devices, one at a time: connect → CONNACK (timed) → DISCONNECT. */
export async function probeAdmission(
  target: RawTarget,
  devices: readonly DeviceCredential[],
  caPem: string,
): Promise<ProbeFigures> {
  const latencies: number[] = [];
  const errors: string[] = [];
  for (const device of devices) {
    try {
      const session = await rawConnect(target, device.id, contextOf(device, caPem));
      latencies.push(session.latencyMs);
      session.socket.end(DISCONNECT);
      await new Promise((resolve) => session.socket.once("close", resolve));
    } catch (error) {
      errors.push((error as Error).message);
    }
  }
  return { ...summarize(latencies), failed: errors.length, errors: errors.slice(0, 5) };
}

/** Reports the load processes' progress every 10 s while `work` runs. */
async function withProgress<T>(fleet: LoaderFleet, total: number, work: Promise<T>): Promise<T> {
  const started = performance.now();
  const timer = setInterval(() => {
    const { connected, failed } = fleet.progress();
    const seconds = Math.round((performance.now() - started) / 1000);
    note(`  ${connected}/${total} connected, ${failed} failed after ${seconds} s`);
  }, 10_000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/** The whole fleet through the load processes; leaves it connected. */
export async function connectFleet(
  broker: Broker,
  fleet: LoaderFleet,
  target: RawTarget,
  caPem: string,
  options: { requested: number; concurrency: number; settleMs: number },
): Promise<FleetFigures> {
  await sleep(1000);
  const memoryBefore = memoryOf(broker);
  const cpuBefore = broker.cpuMs() ?? Number.NaN;
  const loadersBefore = fleet.usage();
  const systemBefore = systemCpu();
  const selfBefore = selfCpuMs();
  note(`${broker.name}: connecting ${options.requested} idle sessions (RSS before ${memoryBefore.rssKiB} KiB)`);
  const started = performance.now();
  const result = await withProgress(
    fleet,
    options.requested,
    fleet.connect({ target, caPem, concurrency: options.concurrency }),
  );
  const connectSeconds = (performance.now() - started) / 1000;
  const brokerCpuMs = (broker.cpuMs() ?? Number.NaN) - cpuBefore;
  const loadersAfter = fleet.usage();
  const systemAfter = systemCpu();
  const ours = brokerCpuMs + loadersAfter.cpuMs - loadersBefore.cpuMs + selfCpuMs() - selfBefore;
  const otherCoresBusy =
    systemBefore && systemAfter ? (systemAfter.busyMs - systemBefore.busyMs - ours) / 1000 / connectSeconds : null;
  note(`${broker.name}: ${result.connected} connected in ${connectSeconds.toFixed(1)} s; settling`);
  await sleep(options.settleMs); // let the storm's transient buffers go before RSS is read
  const memoryAfter = memoryOf(broker);
  return {
    requested: options.requested,
    connected: result.connected,
    failed: result.failed,
    errors: result.errors,
    connectSeconds,
    connectsPerSecond: result.connected / connectSeconds,
    connectLatency: summarize(result.latenciesMs),
    brokerCpuMs,
    brokerCpuUsPerConnection: (brokerCpuMs * 1000) / Math.max(1, result.connected),
    memoryBefore,
    memoryAfter,
    kibPerConnection: (memoryAfter.rssKiB - memoryBefore.rssKiB) / Math.max(1, result.connected),
    loaders: {
      processes: fleet.pids.length,
      cpuMs: loadersAfter.cpuMs - loadersBefore.cpuMs,
      rssKiB: loadersAfter.rssKiB,
    },
    otherCoresBusy: otherCoresBusy === null ? null : Math.max(0, otherCoresBusy),
  };
}

export type RevocationFigures = LatencySummary & { notClosed: number; connectFailed: number };

function closedWithin(session: RawSession, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (session.socket.destroyed) return resolve(performance.now());
    const timer = setTimeout(() => resolve(null), timeoutMs);
    session.socket.once("close", () => {
      clearTimeout(timer);
      resolve(performance.now());
    });
  });
}

/**
 * Devices connected next to the held fleet, then revoked one at a time through the admin API,
 * each timed from just before the request to its socket's close.
 */
export async function revokeAtLoad(
  admin: AdminClient,
  target: RawTarget,
  devices: readonly DeviceCredential[],
  caPem: string,
  timeoutMs = 10_000,
): Promise<RevocationFigures> {
  const sessions: RawSession[] = [];
  let connectFailed = 0;
  for (const device of devices) {
    try {
      sessions.push(await rawConnect(target, device.id, contextOf(device, caPem)));
    } catch (error) {
      if (connectFailed++ === 0) note(`revocation device did not connect: ${(error as Error).message}`);
    }
  }
  note(`revoking ${sessions.length} connected devices one at a time, timed to socket close`);
  const latencies: number[] = [];
  let notClosed = 0;
  for (const session of sessions) {
    const closed = closedWithin(session, timeoutMs);
    const started = performance.now();
    await admin.call("POST", `/v1/devices/${encodeURIComponent(session.id)}/revoke`, { reason: "keyCompromise" });
    const at = await closed;
    if (at === null) notClosed++;
    else latencies.push(at - started);
  }
  for (const session of sessions) session.socket.destroy();
  return { ...summarize(latencies), notClosed, connectFailed };
}
