/**
 * The message phases of the cluster benchmark, each against nodes already running: broker CPU per
 * QoS 1 message (summed over every fleetgate process, from /proc) and publish → delivery latency,
 * same node and across nodes. Revocation and failover are in cluster-failures.ts.
 */
import { execFileSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { BenchNode } from "./cluster-nodes.js";
import type { DeviceCredential } from "./device-credentials.js";
import { closeAll, connectAll, connectDevice, type Connected, type MqttTarget } from "./mqtt-load.js";
import { processCpuMs, selfCpuMs, systemCpu } from "./proc-cpu.js";
import { summarize, type LatencySummary } from "./stats.js";
import { subscribeTelemetry, telemetryRun, type TelemetryResult } from "./telemetry-load.js";

export const note = (message: string) => console.error(`[bench] ${message}`);

export function targetOf(node: BenchNode, caPem: string, timeoutMs = 30_000): MqttTarget {
  return { host: "127.0.0.1", port: node.mqttPort, caPem, keepaliveSeconds: 1800, timeoutMs };
}

/** The shared redis-server's pid (its CPU is reported apart: other helpers use it too), or null. */
function redisPid(): number | null {
  try {
    const pid = Number(execFileSync("pgrep", ["-x", "redis-server"], { encoding: "utf8" }).split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export interface CpuWindow {
  /** CPU of every fleetgate process together, and per node (key: node id, or "single"). */
  readonly nodesCpuMs: number;
  readonly perNodeCpuMs: Readonly<Record<string, number>>;
  /** The shared redis-server's CPU meanwhile (includes other users of that Redis), null without it. */
  readonly redisCpuMs: number | null;
  /** Machine-wide busy cores outside fleetgate, Redis and this benchmark process. */
  readonly otherCoresBusy: number | null;
  readonly wallSeconds: number;
}

function cpuOf(node: BenchNode): number {
  const ms = node.server.cpuMs();
  if (ms === null) throw new Error(`node ${node.id ?? "single"} (pid ${node.server.pid}): no CPU figure from /proc`);
  return ms;
}

/** Runs `work` with short settles either side (trailing acks land inside the window) and reads CPU around it. */
export async function cpuWindow<T>(nodes: readonly BenchNode[], work: () => Promise<T>) {
  const redis = redisPid();
  await sleep(500);
  const before = { nodes: nodes.map(cpuOf), redis: redis && processCpuMs(redis), self: selfCpuMs(), sys: systemCpu() };
  const started = performance.now();
  const result = await work();
  await sleep(300);
  const wallSeconds = (performance.now() - started) / 1000;
  const perNode = nodes.map((node, i) => cpuOf(node) - before.nodes[i]!);
  const redisAfter = redis && processCpuMs(redis);
  const redisCpuMs = before.redis != null && redisAfter != null ? redisAfter - before.redis : null;
  const nodesCpuMs = perNode.reduce((a, b) => a + b, 0);
  const sys = systemCpu();
  const others =
    sys && before.sys
      ? sys.busyMs - before.sys.busyMs - nodesCpuMs - (redisCpuMs ?? 0) - (selfCpuMs() - before.self)
      : null;
  const window: CpuWindow = {
    nodesCpuMs,
    perNodeCpuMs: Object.fromEntries(nodes.map((node, i) => [node.id ?? "single", perNode[i]!])),
    redisCpuMs,
    otherCoresBusy: others === null ? null : Math.max(0, others) / 1000 / wallSeconds,
    wallSeconds,
  };
  return { result, window };
}

export interface MessageCpuFigures extends CpuWindow {
  readonly messages: TelemetryResult;
  /** Fleetgate CPU (all nodes) per delivered QoS 1 message, µs. */
  readonly cpuUsPerMessage: number;
}

export interface MessageLoad {
  readonly nodes: readonly BenchNode[];
  readonly publishersAt: BenchNode;
  readonly subscriberAt: BenchNode;
  readonly devices: readonly DeviceCredential[];
  readonly subscriber: DeviceCredential;
  readonly caPem: string;
  readonly messages: number;
  readonly rate: number;
  readonly concurrency: number;
}

/** Every device connected to one node, one subscriber (maybe on another node), QoS 1 at a steady rate. */
export async function messageCpuPhase(load: MessageLoad): Promise<MessageCpuFigures> {
  const clients = await connectAll(targetOf(load.publishersAt, load.caPem), load.devices, load.concurrency);
  const subscriber = await connectDevice(targetOf(load.subscriberAt, load.caPem), load.subscriber);
  try {
    await subscribeTelemetry(subscriber.client);
    await sleep(1000); // the connect storm's trailing work (and the subscription's spread to every node) settles
    note(`${load.messages} QoS 1 messages at ${load.rate}/s from ${clients.length} devices to 1 subscriber`);
    const { result, window } = await cpuWindow(load.nodes, () =>
      telemetryRun(clients, subscriber.client, load.messages, load.rate, 30_000),
    );
    return { ...window, messages: result, cpuUsPerMessage: (window.nodesCpuMs * 1000) / Math.max(1, result.delivered) };
  } finally {
    await closeAll([...clients, subscriber]);
  }
}

export interface LatencyFigures {
  readonly sameNode: LatencySummary;
  /** Null for a single node. */
  readonly crossNode: LatencySummary | null;
  readonly lost: number;
}

export interface LatencyLoad {
  readonly publisher: DeviceCredential;
  readonly publisherAt: BenchNode;
  /** A subscriber on the publisher's node, and one on another node (cluster only). */
  readonly near: DeviceCredential;
  readonly far: { readonly node: BenchNode; readonly credential: DeviceCredential } | null;
  readonly caPem: string;
  readonly samples: number;
  readonly intervalMs: number;
}

/** Receive times per sequence number, from `devices/<publisher>/telemetry` payloads "seq sentAt". */
async function latencySubscriber(connected: Connected, topic: string, received: Map<number, number>): Promise<void> {
  connected.client.on("message", (_topic, payload) => {
    const [seq, sentAt] = payload.toString("latin1").split(" ").map(Number);
    if (Number.isInteger(seq) && Number.isFinite(sentAt) && !received.has(seq!))
      received.set(seq!, performance.now() - sentAt!);
  });
  const granted = await connected.client.subscribeAsync(topic, { qos: 1 });
  if (granted[0]?.qos !== 1) throw new Error(`subscription to ${topic} refused`);
}

/**
 * One QoS 1 message every `intervalMs` (never a queue: latency, not throughput), each to a subscriber on
 * the same node and one on another; a warm-up of 50 messages first is not counted.
 */
export async function latencyPhase(load: LatencyLoad): Promise<LatencyFigures> {
  const topic = `devices/${load.publisher.id}/telemetry`;
  const publisher = await connectDevice(targetOf(load.publisherAt, load.caPem), load.publisher);
  const near = await connectDevice(targetOf(load.publisherAt, load.caPem), load.near);
  const far = load.far ? await connectDevice(targetOf(load.far.node, load.caPem), load.far.credential) : null;
  const nearMs = new Map<number, number>();
  const farMs = new Map<number, number>();
  try {
    await latencySubscriber(near, topic, nearMs);
    if (far) await latencySubscriber(far, topic, farMs);
    await sleep(1000);
    const warmup = 50;
    for (let seq = -warmup; seq < load.samples; seq++) {
      publisher.client.publish(topic, `${seq} ${performance.now()}`, { qos: 1 });
      await sleep(load.intervalMs);
    }
    const total = load.samples + warmup;
    const complete = () => nearMs.size >= total && (far === null || farMs.size >= total);
    for (let waited = 0; waited < 5000 && !complete(); waited += 100) await sleep(100);
    const counted = (m: Map<number, number>) => [...m].filter(([seq]) => seq >= 0).map(([, ms]) => ms);
    const lost = load.samples - counted(nearMs).length + (far ? load.samples - counted(farMs).length : 0);
    return { sameNode: summarize(counted(nearMs)), crossNode: far ? summarize(counted(farMs)) : null, lost };
  } finally {
    await closeAll([publisher, near, ...(far ? [far] : [])]);
  }
}
