/**
 * The phases measured on each broker, identically: the broker is a separate process, and
 * only its own CPU (/proc/PID/stat) and RSS (/proc/PID/status) count, never wall time. Short
 * settles before and after each phase let the broker finish trailing work (closes, acks) inside
 * the window and start it quiet.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { performance } from "node:perf_hooks";
import type { DeviceCredential } from "./device-credentials.js";
import { closeAll, connectAll, connectDevice, handshakeCycles, type Connected, type MqttTarget } from "./mqtt-load.js";
import { rssKiB } from "./proc-mem.js";
import { subscribeTelemetry, telemetryRun, type TelemetryResult } from "./telemetry-load.js";

export interface MeasuredBroker {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  cpuMs(): number | null;
  /** RSS in KiB; default /proc/PID/status of `pid` (a `serve --workers N` sums its process tree). */
  rssKiB?(): number | null;
}

export interface PhaseOptions {
  readonly handshakes: number;
  readonly warmupHandshakes: number;
  readonly messages: number;
  readonly rate: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
}

export interface BrokerFigures {
  readonly handshake: { count: number; resumed: number; cpuMs: number; cpuUsPer: number; wallSeconds: number };
  readonly idle: {
    connections: number;
    rssBeforeKiB: number;
    rssAfterKiB: number;
    kibPerConnection: number;
    connectSeconds: number;
  };
  readonly messages: TelemetryResult & { cpuMs: number; cpuUsPer: number };
}

export interface Fixture {
  readonly devices: readonly DeviceCredential[];
  /** A service-role identity allowed to read devices/+/telemetry/# on both brokers. */
  readonly subscriber: DeviceCredential;
  readonly caPem: string;
}

const note = (message: string) => console.error(`[bench] ${message}`);

function cpuOf(broker: MeasuredBroker): number {
  const ms = broker.cpuMs();
  if (ms === null)
    throw new Error(`${broker.name} (pid ${broker.pid}): no CPU figure (/proc unavailable or the process is gone)`);
  return ms;
}

function rssOf(broker: MeasuredBroker): number {
  const kib = broker.rssKiB ? broker.rssKiB() : rssKiB(broker.pid);
  if (kib === null) throw new Error(`${broker.name} (pid ${broker.pid}): no RSS figure`);
  return kib;
}

/** CPU (ms) the broker spent while `work` ran, settles included. */
async function brokerCpuAround<T>(
  broker: MeasuredBroker,
  work: () => Promise<T>,
): Promise<{ result: T; cpuMs: number; wallSeconds: number }> {
  await sleep(500);
  const before = cpuOf(broker);
  const started = performance.now();
  const result = await work();
  const wallSeconds = (performance.now() - started) / 1000;
  await sleep(300);
  return { result, cpuMs: cpuOf(broker) - before, wallSeconds };
}

/** Connects every device and measures the RSS they added; leaves them connected. */
async function idlePhase(
  broker: MeasuredBroker,
  target: MqttTarget,
  fixture: Fixture,
  options: PhaseOptions,
): Promise<{ clients: Connected[]; figures: BrokerFigures["idle"] }> {
  await sleep(1000);
  const rssBeforeKiB = rssOf(broker);
  note(`${broker.name}: connecting ${fixture.devices.length} devices (RSS before ${rssBeforeKiB} KiB)`);
  const started = performance.now();
  const clients = await connectAll(target, fixture.devices, options.concurrency);
  const connectSeconds = (performance.now() - started) / 1000;
  await sleep(3000); // idle: let the connect storm's transient buffers be released before reading RSS
  const rssAfterKiB = rssOf(broker);
  const kibPerConnection = (rssAfterKiB - rssBeforeKiB) / clients.length;
  return {
    clients,
    figures: { connections: clients.length, rssBeforeKiB, rssAfterKiB, kibPerConnection, connectSeconds },
  };
}

function targetOf(broker: MeasuredBroker, fixture: Fixture, options: PhaseOptions): MqttTarget {
  return {
    host: "127.0.0.1",
    port: broker.port,
    caPem: fixture.caPem,
    keepaliveSeconds: 1800,
    timeoutMs: options.timeoutMs,
  };
}

/**
 * Fresh connections only, run on a freshly started broker: on one that has just dropped thousands
 * of connections, collecting their garbage would be charged to the handshakes. A short untimed
 * warm-up first (JIT, allocator), the same for both brokers.
 */
export async function handshakePhase(
  broker: MeasuredBroker,
  fixture: Fixture,
  options: PhaseOptions,
): Promise<BrokerFigures["handshake"]> {
  const target = targetOf(broker, fixture, options);
  if (options.warmupHandshakes > 0)
    await handshakeCycles(target, fixture.devices, options.warmupHandshakes, options.concurrency);
  note(
    `${broker.name}: ${options.handshakes} handshakes (connect → CONNACK → DISCONNECT), ${options.concurrency} at once`,
  );
  const { result, cpuMs, wallSeconds } = await brokerCpuAround(broker, () =>
    handshakeCycles(target, fixture.devices, options.handshakes, options.concurrency),
  );
  if (result.resumed > 0)
    throw new Error(`${broker.name}: ${result.resumed} TLS sessions were resumed; every handshake must be a full one`);
  return { count: result.ok, resumed: result.resumed, cpuMs, cpuUsPer: (cpuMs * 1000) / result.ok, wallSeconds };
}

/**
 * Idle RSS, then the QoS 1 phase over those connections, on a freshly started broker: "before
 * connecting" is then the broker at rest, not a heap already grown by a handshake storm.
 */
export async function loadPhases(
  broker: MeasuredBroker,
  fixture: Fixture,
  options: PhaseOptions,
): Promise<Pick<BrokerFigures, "idle" | "messages">> {
  const target = targetOf(broker, fixture, options);
  const { clients, figures: idle } = await idlePhase(broker, target, fixture, options);
  const subscriber = await connectDevice(target, fixture.subscriber);
  try {
    await subscribeTelemetry(subscriber.client);
    note(
      `${broker.name}: ${options.messages} QoS 1 messages at ${options.rate}/s from ${clients.length} devices to 1 subscriber`,
    );
    const run = await brokerCpuAround(broker, () =>
      telemetryRun(clients, subscriber.client, options.messages, options.rate, options.timeoutMs),
    );
    return {
      idle,
      messages: { ...run.result, cpuMs: run.cpuMs, cpuUsPer: (run.cpuMs * 1000) / Math.max(1, run.result.delivered) },
    };
  } finally {
    await closeAll([...clients, subscriber]);
  }
}
