/**
 * The phases measured on each broker, identically: the broker is a separate process, and
 * only its own CPU (/proc/PID/stat) and RSS (/proc/PID/status) count, never wall time. Short
 * settles before and after each phase let the broker finish trailing work (closes, acks) inside
 * the window and start it quiet.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { performance } from "node:perf_hooks";
import type { DeviceCredential } from "./device-credentials.js";
import {
  closeAll,
  connectAll,
  connectDevice,
  handshakeCycles,
  type Connected,
  type MqttTarget,
  type SessionCache,
} from "./mqtt-load.js";
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
  /** Devices connected one after another and kept open, `accumulateConcurrency` at once (0 = phase off). */
  readonly accumulate: number;
  readonly accumulateConcurrency: number;
  readonly timeoutMs: number;
}

/** A timed run of handshakes: how many, how many the broker resumed, its CPU. */
export interface HandshakeFigures {
  readonly count: number;
  readonly resumed: number;
  readonly cpuMs: number;
  readonly cpuUsPer: number;
  readonly wallSeconds: number;
}

export interface BrokerFigures {
  readonly handshake: HandshakeFigures;
  /** Reconnects offering the session ticket of the device's previous connection. */
  readonly resumedHandshake: HandshakeFigures;
  /** Fresh handshakes whose connections stay open (a fleet coming online), on a fresh broker. */
  readonly accumulated: HandshakeFigures | null;
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

const figuresOf = (run: { ok: number; resumed: number }, cpuMs: number, wallSeconds: number): HandshakeFigures => ({
  count: run.ok,
  resumed: run.resumed,
  cpuMs,
  cpuUsPer: (cpuMs * 1000) / Math.max(1, run.ok),
  wallSeconds,
});

/**
 * Fresh connections only, run on a freshly started broker: on one that has just dropped thousands
 * of connections, collecting their garbage would be charged to the handshakes. A short untimed
 * warm-up first (JIT, allocator), the same for both brokers. Then the same count again, each device
 * offering the session (ticket) its previous connection got: the resumed handshakes.
 */
export async function handshakePhase(
  broker: MeasuredBroker,
  fixture: Fixture,
  options: PhaseOptions,
): Promise<Pick<BrokerFigures, "handshake" | "resumedHandshake">> {
  const target = targetOf(broker, fixture, options);
  const { devices } = fixture;
  if (options.warmupHandshakes > 0)
    await handshakeCycles(target, devices, options.warmupHandshakes, options.concurrency);
  note(
    `${broker.name}: ${options.handshakes} handshakes (connect → CONNACK → DISCONNECT), ${options.concurrency} at once`,
  );
  const cache: SessionCache = new Map();
  const fresh = await brokerCpuAround(broker, () =>
    handshakeCycles(target, devices, options.handshakes, options.concurrency, { cache, offer: false }),
  );
  if (fresh.result.resumed > 0)
    throw new Error(
      `${broker.name}: ${fresh.result.resumed} TLS sessions were resumed; every handshake must be a full one`,
    );
  note(`${broker.name}: ${options.handshakes} reconnects offering the previous session (${cache.size} tickets)`);
  const resumed = await brokerCpuAround(broker, () =>
    handshakeCycles(target, devices, options.handshakes, options.concurrency, { cache, offer: true }),
  );
  return {
    handshake: figuresOf(fresh.result, fresh.cpuMs, fresh.wallSeconds),
    resumedHandshake: figuresOf(resumed.result, resumed.cpuMs, resumed.wallSeconds),
  };
}

/**
 * Fresh handshakes whose connections stay open (a fleet coming online) on a freshly started broker,
 * `accumulateConcurrency` at once, after the same untimed warm-up as the handshake phase; then closed.
 */
export async function accumulatePhase(
  broker: MeasuredBroker,
  fixture: Fixture,
  options: PhaseOptions,
): Promise<HandshakeFigures | null> {
  const count = Math.min(options.accumulate, fixture.devices.length);
  if (count === 0) return null;
  const target = targetOf(broker, fixture, options);
  if (options.warmupHandshakes > 0)
    await handshakeCycles(target, fixture.devices, options.warmupHandshakes, options.concurrency);
  note(`${broker.name}: ${count} fresh handshakes kept open, ${options.accumulateConcurrency} in flight`);
  const devices = fixture.devices.slice(0, count);
  const run = await brokerCpuAround(broker, () => connectAll(target, devices, options.accumulateConcurrency));
  try {
    const resumed = run.result.filter((c) => c.sessionReused).length;
    return figuresOf({ ok: run.result.length, resumed }, run.cpuMs, run.wallSeconds);
  } finally {
    await closeAll(run.result);
  }
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
