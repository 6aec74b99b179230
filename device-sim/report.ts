import type { DeviceDeliveries } from "./delivery-log.js";
import type { DeviceRecord, RevocationRecord, RotationRecord } from "./device-record.js";
import { evaluateExpectations, type Expectation } from "./expectations.js";
import { checkSequence, type SequenceStats } from "./sequence-check.js";
import { distribution, ratePerSecond, type Distribution } from "./stats.js";
import type { TimelineSample } from "./timeline.js";
import type { Scenario } from "./types.js";

/** Everything recorded during a run; the report is a pure function of it. */
export interface FleetRecording {
  readonly scenario: Scenario;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly devices: readonly DeviceRecord[];
  readonly deliveries: ReadonlyMap<string, DeviceDeliveries>;
  readonly malformed: number;
  readonly revokeRequested: number;
  readonly revocations: readonly RevocationRecord[];
  /** The rotate scenario's issuing-CA rollover (null when it did not happen). */
  readonly rotation?: RotationRecord | null;
  readonly commands: { readonly sent: ReadonlyMap<string, number>; readonly answered: ReadonlyMap<string, number> };
  readonly consumerDisconnects: number;
  /** The fleet sampled every second (online, sent, received); only the HTML report reads it. */
  readonly timeline?: readonly TimelineSample[];
}

export interface RevokedDeviceReport {
  readonly deviceId: string;
  readonly error: string | null;
  /** The server closed its live session after the revocation was requested. */
  readonly cutOff: boolean;
  readonly cutOffAfterMs: number | null;
  /** At least one connection attempt after the revocation was refused. */
  readonly refusedOnReconnect: boolean;
  readonly gaveUp: boolean;
}

export interface DeviceProblem extends SequenceStats {
  readonly deviceId: string;
}

export interface FleetReport {
  readonly ok: boolean;
  readonly scenario: Scenario;
  readonly durationMs: number;
  readonly devices: number;
  readonly enrolled: number;
  readonly rebooted: number;
  readonly connected: number;
  readonly enrollmentsPerSecond: number;
  readonly handshakesPerSecond: number;
  readonly messages: {
    sent: number;
    received: number;
    lost: number;
    duplicated: number;
    outOfOrder: number;
    unacknowledged: number;
    skippedSamples: number;
    malformed: number;
  };
  readonly latencyMs: Distribution | null;
  /** Per device, from power-on to its first telemetry at the consumer. */
  readonly bootToFirstDeliveryMs: Distribution | null;
  /** From the start of the run until every device that came online had a delivery. */
  readonly fleetFirstDeliveryMs: number | null;
  /** Longest silence between two deliveries of one device that was not revoked (renewals, reconnects). */
  readonly maxDeliveryGapMs: number | null;
  readonly kicksObserved: number;
  readonly renewals: number;
  readonly refusals: number;
  readonly gaveUp: readonly { deviceId: string; reason: string }[];
  readonly commands: { sent: number; answered: number; roundTripMs: Distribution | null };
  readonly consumerDisconnects: number;
  readonly revoked: readonly RevokedDeviceReport[];
  readonly rotation: RotationRecord | null;
  /** Renewal attempts the server refused (HTTP 401/403), across the fleet. */
  readonly renewalRefusals: number;
  /** Devices that were not revoked but lost, duplicated or reordered telemetry (first 20). */
  readonly problems: readonly DeviceProblem[];
  readonly expectations: readonly Expectation[];
}

const EMPTY: DeviceDeliveries = { seqs: [], sentAt: [], receivedAt: [] };
const MAX_PROBLEMS_LISTED = 20;

export function buildReport(recording: FleetRecording): FleetReport {
  const revokedIds = new Set(recording.revocations.map((r) => r.deviceId));
  const judged = recording.devices.map((device) => ({
    device,
    stats: checkSequence(device, deliveriesOf(recording, device.id).seqs),
  }));
  const devices = recording.devices;
  const report: Omit<FleetReport, "ok" | "expectations"> = {
    scenario: recording.scenario,
    durationMs: recording.endedAt - recording.startedAt,
    ...deviceCounts(devices),
    messages: messageTotals(judged, recording.malformed),
    latencyMs: distribution(latencies(recording.deliveries)),
    bootToFirstDeliveryMs: distribution(firstDeliveries(recording).map(({ device, at }) => at - device.bootAt!)),
    fleetFirstDeliveryMs: fleetFirstDelivery(recording),
    maxDeliveryGapMs: maxDeliveryGap(recording, revokedIds),
    commands: {
      sent: recording.commands.sent.size,
      answered: recording.commands.answered.size,
      roundTripMs: distribution([...recording.commands.answered.values()]),
    },
    consumerDisconnects: recording.consumerDisconnects,
    revoked: recording.revocations.map((revocation) => revokedDeviceReport(revocation, devices)),
    rotation: recording.rotation ?? null,
    renewalRefusals: devices.reduce((n, d) => n + d.refusals.filter((r) => r.stage === "renew").length, 0),
    problems: judged
      .filter(({ device, stats }) => !revokedIds.has(device.id) && stats.lost + stats.duplicated + stats.outOfOrder > 0)
      .slice(0, MAX_PROBLEMS_LISTED)
      .map(({ device, stats }) => ({ deviceId: device.id, ...stats })),
  };
  const expectations = evaluateExpectations(recording, judged, report.revoked);
  return { ok: expectations.every((e) => e.ok), ...report, expectations };
}

type DeviceCounts = Pick<
  FleetReport,
  | "devices"
  | "enrolled"
  | "rebooted"
  | "connected"
  | "enrollmentsPerSecond"
  | "handshakesPerSecond"
  | "kicksObserved"
  | "renewals"
  | "refusals"
  | "gaveUp"
>;

function deviceCounts(devices: readonly DeviceRecord[]): DeviceCounts {
  const total = (pick: (d: DeviceRecord) => number) => devices.reduce((sum, d) => sum + pick(d), 0);
  return {
    devices: devices.length,
    enrolled: devices.filter((d) => d.enrolledAt !== null).length,
    rebooted: devices.filter((d) => d.bootAt !== null && !d.firstBoot).length,
    connected: devices.filter((d) => d.firstConnectedAt !== null).length,
    enrollmentsPerSecond: enrollmentRate(devices),
    handshakesPerSecond: handshakeRate(devices),
    kicksObserved: total((d) => d.kicks.length),
    renewals: total((d) => d.renewals),
    refusals: total((d) => d.refusals.length),
    gaveUp: devices.filter((d) => d.gaveUp).map((d) => ({ deviceId: d.id, reason: d.gaveUp!.reason })),
  };
}

function messageTotals(
  judged: readonly { device: DeviceRecord; stats: SequenceStats }[],
  malformed: number,
): FleetReport["messages"] {
  const sum = (pick: (j: { device: DeviceRecord; stats: SequenceStats }) => number) =>
    judged.reduce((total, j) => total + pick(j), 0);
  return {
    sent: sum((j) => j.stats.expected),
    received: sum((j) => j.stats.received),
    lost: sum((j) => j.stats.lost),
    duplicated: sum((j) => j.stats.duplicated),
    outOfOrder: sum((j) => j.stats.outOfOrder),
    unacknowledged: sum((j) => j.device.unacked.length),
    skippedSamples: sum((j) => j.device.skippedSamples),
    malformed,
  };
}

export function deliveriesOf(recording: FleetRecording, deviceId: string): DeviceDeliveries {
  return recording.deliveries.get(deviceId) ?? EMPTY;
}

function revokedDeviceReport(revocation: RevocationRecord, devices: readonly DeviceRecord[]): RevokedDeviceReport {
  const device = devices.find((d) => d.id === revocation.deviceId);
  const kick = device?.kicks.find((at) => at >= revocation.requestedAt);
  return {
    deviceId: revocation.deviceId,
    error: revocation.error,
    cutOff: kick !== undefined,
    cutOffAfterMs: kick === undefined ? null : kick - revocation.requestedAt,
    refusedOnReconnect: device?.refusals.some((r) => r.stage === "connect" && r.at >= revocation.requestedAt) ?? false,
    gaveUp: device?.gaveUp !== null && device?.gaveUp !== undefined,
  };
}

function latencies(deliveries: ReadonlyMap<string, DeviceDeliveries>): Float64Array {
  let total = 0;
  for (const d of deliveries.values()) total += d.seqs.length;
  const values = new Float64Array(total);
  let i = 0;
  for (const d of deliveries.values())
    for (let j = 0; j < d.seqs.length; j++) values[i++] = d.receivedAt[j]! - d.sentAt[j]!;
  return values;
}

function maxDeliveryGap(recording: FleetRecording, revokedIds: ReadonlySet<string>): number | null {
  let max: number | null = null;
  for (const [deviceId, { receivedAt }] of recording.deliveries) {
    if (revokedIds.has(deviceId)) continue;
    for (let i = 1; i < receivedAt.length; i++) max = Math.max(max ?? 0, receivedAt[i]! - receivedAt[i - 1]!);
  }
  return max;
}

function firstDeliveries(recording: FleetRecording): { device: DeviceRecord; at: number }[] {
  return recording.devices
    .filter((device) => device.bootAt !== null && (recording.deliveries.get(device.id)?.receivedAt.length ?? 0) > 0)
    .map((device) => ({ device, at: recording.deliveries.get(device.id)!.receivedAt[0]! }));
}

function fleetFirstDelivery(recording: FleetRecording): number | null {
  const online = recording.devices.filter((d) => d.firstConnectedAt !== null);
  const firsts = firstDeliveries(recording);
  if (online.length === 0 || firsts.length < online.length) return null;
  return Math.max(...firsts.map((f) => f.at)) - recording.startedAt;
}

function enrollmentRate(devices: readonly DeviceRecord[]): number {
  const enrolled = devices.filter((d) => d.enrolledAt !== null && d.bootAt !== null);
  if (enrolled.length === 0) return 0;
  return ratePerSecond(
    enrolled.length,
    Math.min(...enrolled.map((d) => d.bootAt!)),
    Math.max(...enrolled.map((d) => d.enrolledAt!)),
  );
}

/** First connections per second, from the first attempt to the last first connection. */
function handshakeRate(devices: readonly DeviceRecord[]): number {
  const connected = devices.filter((d) => d.firstConnectedAt !== null && d.firstConnectAttemptAt !== null);
  if (connected.length === 0) return 0;
  return ratePerSecond(
    connected.length,
    Math.min(...connected.map((d) => d.firstConnectAttemptAt!)),
    Math.max(...connected.map((d) => d.firstConnectedAt!)),
  );
}
