import { setMaxListeners } from "node:events";
import { CredentialStore } from "./credential-store.js";
import { startConsumer, type TelemetryConsumer } from "./consumer.js";
import { SimDevice } from "./device.js";
import type { DeviceEnvironment } from "./device-env.js";
import type { RevocationRecord, RotationRecord } from "./device-record.js";
import { EnrollClient } from "./enroll-client.js";
import { HttpsClient } from "./https-client.js";
import { Limiter } from "./limiter.js";
import { buildReport, type FleetRecording, type FleetReport } from "./report.js";
import { revokeDuringRun, rotateDuringRun, type RevokePlan, type RotatePlan } from "./revoker.js";
import { bootOffsetMs, defaultRampMs, defaultRevokeAtMs, deviceIds } from "./scenario.js";
import { Scheduler } from "./scheduler.js";
import { Timeline } from "./timeline.js";
import {
  DEFAULT_RETRY,
  type EnrollMethod,
  type FleetEndpoints,
  type FleetEvent,
  type FleetProgress,
  type RetryPolicy,
  type Scenario,
  type TokenSource,
} from "./types.js";

export interface FleetOptions {
  readonly devices: number;
  readonly endpoints: FleetEndpoints;
  /** Each device keeps its key and certificate in `<stateDir>/<id>/`; a second run reboots them. */
  readonly stateDir: string;
  /** Bootstrap tokens for first boots: a group token, or one per device id. */
  readonly token: TokenSource;
  /** Telemetry messages per second per device (default 1). */
  readonly rate?: number;
  /** Run length (default 60 s); with `signal` and no duration, the run lasts until it aborts. */
  readonly durationMs?: number;
  readonly signal?: AbortSignal;
  readonly scenario?: Scenario;
  /** Device ids are `<prefix>0001`…; default `sim-`. */
  readonly prefix?: string;
  readonly enrollMethod?: EnrollMethod;
  /** Spread of first boots for steady/revoke (storm: 0). */
  readonly rampMs?: number;
  /** Required by the revoke scenario. */
  readonly revoke?: RevokePlan;
  /** The backend consumer's id (default `sim-consumer`) and its `service` token for its first boot. */
  readonly consumer?: { readonly id?: string; readonly token?: TokenSource };
  /** HTTPS requests (enrollments, renewals) in flight across the fleet (default 64). */
  readonly httpConcurrency?: number;
  /** MQTT TLS handshakes in flight across the fleet (default 256). */
  readonly connectConcurrency?: number;
  readonly retry?: Partial<RetryPolicy>;
  /** Default 2/3. */
  readonly renewAtFraction?: number;
  /** Spread of renewal times as a fraction of the lifetime (default 0.1: ±5%). */
  readonly renewJitter?: number;
  /** Required by the rotate scenario: the operator's issuing-CA rollover mid-run. */
  readonly rotate?: RotatePlan;
  /** How long the end of the run waits for unacknowledged telemetry and its delivery (default 5 s). */
  readonly drainTimeoutMs?: number;
  readonly onEvent?: (event: FleetEvent) => void;
  readonly onProgress?: (progress: FleetProgress) => void;
  /** Hears everything recorded (the per-second timeline included) once the run is over: for `--report FILE.html`. */
  readonly onRecording?: (recording: FleetRecording) => void;
}

const PROGRESS_INTERVAL_MS = 500;

/**
 * Runs a simulated fleet against a fleetgate server: consumer first, then the devices on the
 * scenario's schedule, operator revocations if asked; at the end it stops sampling, lets what
 * is in flight arrive, and reports. Resolves with the report; `report.ok` says whether the
 * scenario's expectations held.
 */
export async function runFleet(options: FleetOptions): Promise<FleetReport> {
  const scenario = options.scenario ?? "steady";
  if (scenario === "revoke" && !options.revoke)
    throw new Error("the revoke scenario needs options.revoke (count and revokeDevice)");
  if (scenario === "rotate" && !options.rotate) throw new Error("the rotate scenario needs options.rotate (rotateCa)");
  const durationMs = options.durationMs ?? (options.signal ? Infinity : 60_000);
  const rampMs = options.rampMs ?? defaultRampMs(scenario, durationMs);
  const end = new AbortController();
  setMaxListeners(0, end.signal); // every request and connect in flight listens for the end of the run
  const scheduler = new Scheduler();
  scheduler.start();
  const emit = options.onEvent ?? (() => undefined);
  const consumer = await startFleetConsumer(options).catch((error: unknown) => {
    scheduler.stop();
    throw error;
  });
  const shared = environment(options, scheduler, end.signal, emit); // one set of pools for the whole fleet
  const devices = deviceIds(options.prefix ?? "sim-", options.devices).map((id) => new SimDevice(id, shared));
  const startedAt = Date.now();
  scheduler.onTick((now) => devices.forEach((device) => device.tick(now)));
  watchProgress(options, scheduler, devices, consumer, startedAt);
  const timeline = new Timeline();
  scheduler.onTick((now) => timeline.offer(progressOf(devices, consumer, now - startedAt)));
  const powerOn = (device: SimDevice, i: number) =>
    scheduler
      .sleep(bootOffsetMs(scenario, i, devices.length, rampMs))
      .then(() => (end.signal.aborted ? undefined : device.boot()));
  const boots = devices.map(powerOn);
  const revoke = scenario === "revoke" ? options.revoke : undefined;
  const revokeAtMs = revoke?.atMs ?? defaultRevokeAtMs(durationMs, rampMs);
  const revocations = revoke ? revokeDuringRun(revoke, revokeAtMs, devices, scheduler, emit) : Promise.resolve([]);
  const rotate = scenario === "rotate" ? options.rotate : undefined;
  const rotation = rotate
    ? rotateDuringRun(rotate, rotate.atMs ?? defaultRevokeAtMs(durationMs, rampMs), scheduler)
    : Promise.resolve(null);
  await runFor(durationMs, scheduler, options.signal);
  await windDown(devices, consumer, scheduler, options.drainTimeoutMs ?? 5_000);
  const endedAt = Date.now();
  end.abort();
  scheduler.stop();
  await Promise.all(devices.map((device) => device.shutdown()));
  await Promise.allSettled(boots);
  await consumer.close();
  const recording = record(scenario, options, { startedAt, endedAt }, devices, consumer, {
    revocations: await revocations,
    rotation: await rotation,
  });
  options.onRecording?.({ ...recording, timeline: timeline.samples });
  return buildReport(recording);
}

function startFleetConsumer(options: FleetOptions): Promise<TelemetryConsumer> {
  const { endpoints, stateDir, enrollMethod } = options;
  return startConsumer({ endpoints, stateDir, enrollMethod, id: options.consumer?.id, token: options.consumer?.token });
}

function environment(
  options: FleetOptions,
  scheduler: Scheduler,
  signal: AbortSignal,
  emit: (event: FleetEvent) => void,
): DeviceEnvironment {
  const httpConcurrency = options.httpConcurrency ?? 64;
  const https = new HttpsClient(options.endpoints.caPem, httpConcurrency, signal);
  return {
    endpoints: options.endpoints,
    enroll: new EnrollClient(options.endpoints.enrollUrl, https),
    store: new CredentialStore(options.stateDir),
    scheduler,
    enrollments: new Limiter(httpConcurrency),
    connects: new Limiter(options.connectConcurrency ?? 256),
    token: options.token,
    method: options.enrollMethod ?? "est",
    retry: { ...DEFAULT_RETRY, ...options.retry },
    rate: options.rate ?? 1,
    renewAtFraction: options.renewAtFraction ?? 2 / 3,
    renewJitter: options.renewJitter ?? 0.1,
    signal,
    emit,
  };
}

/** Waits for the duration or the caller's abort, whichever comes first. */
async function runFor(durationMs: number, scheduler: Scheduler, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  await new Promise<void>((resolve) => {
    signal?.addEventListener("abort", () => resolve(), { once: true });
    if (Number.isFinite(durationMs)) void scheduler.sleep(durationMs).then(resolve);
  });
}

/** Stop sampling; let devices get their telemetry acknowledged and the consumer receive it. */
async function windDown(
  devices: readonly SimDevice[],
  consumer: TelemetryConsumer,
  scheduler: Scheduler,
  timeoutMs: number,
): Promise<void> {
  for (const device of devices) device.stopSampling();
  const deadline = Date.now() + timeoutMs;
  const settled = () =>
    devices.every((d) => d.status !== "online" || d.pending === 0) &&
    consumer.deliveries.total >= acknowledged(devices);
  while (!settled() && Date.now() < deadline) await scheduler.sleep(scheduler.tickMs);
}

function acknowledged(devices: readonly SimDevice[]): number {
  return devices.reduce((total, d) => total + d.acknowledged, 0);
}

function watchProgress(
  options: FleetOptions,
  scheduler: Scheduler,
  devices: readonly SimDevice[],
  consumer: TelemetryConsumer,
  startedAt: number,
): void {
  const onProgress = options.onProgress;
  if (!onProgress) return;
  let last = 0;
  scheduler.onTick((now) => {
    if (now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    onProgress(progressOf(devices, consumer, now - startedAt));
  });
}

export function progressOf(
  devices: readonly SimDevice[],
  consumer: TelemetryConsumer,
  elapsedMs: number,
): FleetProgress {
  let online = 0,
    enrolled = 0,
    kicks = 0,
    renewals = 0,
    gaveUp = 0;
  for (const { status, record } of devices) {
    if (status === "online" || status === "switching") online++;
    if (record.enrolledAt !== null) enrolled++;
    kicks += record.kicks.length;
    renewals += record.renewals;
    if (record.gaveUp) gaveUp++;
  }
  const sent = acknowledged(devices);
  return {
    elapsedMs,
    devices: devices.length,
    online,
    enrolled,
    sent,
    received: consumer.deliveries.total,
    kicks,
    renewals,
    gaveUp,
  };
}

function record(
  scenario: Scenario,
  options: FleetOptions,
  { startedAt, endedAt }: { startedAt: number; endedAt: number },
  devices: readonly SimDevice[],
  consumer: TelemetryConsumer,
  { revocations, rotation }: { revocations: RevocationRecord[]; rotation: RotationRecord | null },
): FleetRecording {
  return {
    scenario,
    startedAt,
    endedAt,
    rotation,
    devices: devices.map((d) => d.record),
    deliveries: consumer.deliveries.snapshot(),
    malformed: consumer.deliveries.malformed,
    revokeRequested: scenario === "revoke" ? (options.revoke?.count ?? 0) : 0,
    revocations,
    commands: consumer.commands,
    consumerDisconnects: consumer.disconnects,
  };
}
