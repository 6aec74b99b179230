import type { DeviceRecord } from "./device-record.js";
import type { FleetRecording, RevokedDeviceReport } from "./report.js";
import type { SequenceStats } from "./sequence-check.js";

/** One thing the scenario promises, judged from the recording. */
export interface Expectation {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

interface Judged {
  readonly device: DeviceRecord;
  readonly stats: SequenceStats;
}

const LISTED = 5;

function check(name: string, offenders: readonly string[], okDetail: string): Expectation {
  if (offenders.length === 0) return { name, ok: true, detail: okDetail };
  const more = offenders.length > LISTED ? ` and ${offenders.length - LISTED} more` : "";
  return { name, ok: false, detail: `${offenders.slice(0, LISTED).join(", ")}${more}` };
}

function countCheck(
  name: string,
  judged: readonly Judged[],
  pick: (s: SequenceStats) => number,
  what: string,
): Expectation {
  const offenders = judged.filter((j) => pick(j.stats) > 0).map((j) => `${j.device.id} (${pick(j.stats)} ${what})`);
  return check(name, offenders, `0 ${what} across ${judged.length} devices`);
}

/**
 * Every scenario: each device that was not revoked came online, never gave up, and delivered every
 * acknowledged message exactly once and in order. The revoke scenario adds: every revocation
 * went through, each revoked device was cut off and refused on reconnect, the others kept going.
 */
export function evaluateExpectations(
  recording: FleetRecording,
  judged: readonly Judged[],
  revoked: readonly RevokedDeviceReport[],
): Expectation[] {
  const revokedIds = new Set(recording.revocations.map((r) => r.deviceId));
  const others = judged.filter((j) => !revokedIds.has(j.device.id));
  const expectations = [
    check(
      "every device came online",
      others.filter((j) => j.device.firstConnectedAt === null).map((j) => j.device.id),
      `${others.length} online`,
    ),
    check(
      "no device gave up",
      others.filter((j) => j.device.gaveUp).map((j) => `${j.device.id} (${j.device.gaveUp!.reason})`),
      "none gave up",
    ),
    check(
      "every device delivered telemetry",
      others.filter((j) => j.stats.received === 0).map((j) => j.device.id),
      "all delivered",
    ),
    countCheck("no telemetry lost", others, (s) => s.lost, "lost"),
    countCheck("no telemetry duplicated", others, (s) => s.duplicated, "duplicated"),
    countCheck("telemetry in order", others, (s) => s.outOfOrder, "out of order"),
  ];
  if (recording.scenario === "revoke") expectations.push(...revocationExpectations(recording, others, revoked));
  if (recording.scenario === "renew" || recording.scenario === "rotate")
    expectations.push(...renewalExpectations(others));
  if (recording.scenario === "rotate") expectations.push(...rotationExpectations(recording, others));
  return expectations;
}

/** Short-lived certificates: every device renewed over simplereenroll, and the server refused no renewal. */
function renewalExpectations(others: readonly Judged[]): Expectation[] {
  const renewals = others.reduce((n, j) => n + j.device.renewals, 0);
  return [
    check(
      "every device renewed",
      others.filter((j) => j.device.renewals === 0).map((j) => j.device.id),
      `${renewals} renewals across ${others.length} devices`,
    ),
    check(
      "no renewal refused",
      others
        .filter((j) => j.device.refusals.some((r) => r.stage === "renew"))
        .map((j) => `${j.device.id} (${j.device.refusals.find((r) => r.stage === "renew")!.reason})`),
      "every renewal was accepted",
    ),
  ];
}

/**
 * Issuing-CA rollover: it went through, every device renewed after it and holds a certificate of the new
 * CA (the old one stayed trusted meanwhile, so nothing was refused), and telemetry kept flowing (above).
 */
function rotationExpectations(recording: FleetRecording, others: readonly Judged[]): Expectation[] {
  const rotation = recording.rotation ?? null;
  const done = rotation !== null && rotation.error === null;
  const after = done ? rotation.doneAt : Infinity;
  const movedOver = (j: Judged) => j.device.issuer === rotation?.subject && j.device.renewedAt.some((at) => at > after);
  return [
    {
      name: "the issuing CA rotated",
      ok: done,
      detail: rotation === null ? "the run ended before the rotation" : (rotation.error ?? `now ${rotation.caId}`),
    },
    check(
      "every device renewed onto the new CA",
      done ? others.filter((j) => !movedOver(j)).map((j) => j.device.id) : ["(no rotation)"],
      `${others.length} devices hold a certificate of ${rotation?.caId ?? "-"}`,
    ),
    check(
      "no device was refused",
      others.filter((j) => j.device.refusals.length > 0).map((j) => `${j.device.id} (${j.device.refusals[0]!.reason})`),
      "no refusal at enrollment, connect or renewal",
    ),
  ];
}

function revocationExpectations(
  recording: FleetRecording,
  others: readonly Judged[],
  revoked: readonly RevokedDeviceReport[],
): Expectation[] {
  const done = recording.revocations.filter((r) => r.error === null);
  const lastRevocation = Math.max(0, ...done.map((r) => r.doneAt));
  const silentAfter = others.filter((j) => {
    const received = recording.deliveries.get(j.device.id)?.receivedAt ?? [];
    return !(received.length > 0 && received[received.length - 1]! > lastRevocation);
  });
  return [
    {
      name: `${recording.revokeRequested} devices revoked`,
      ok: done.length === recording.revokeRequested && done.length > 0,
      detail: `${done.length} revoked${
        recording.revocations.length > done.length
          ? `, failed: ${recording.revocations
              .filter((r) => r.error)
              .map((r) => `${r.deviceId} (${r.error})`)
              .join(", ")}`
          : ""
      }`,
    },
    check(
      "revoked devices were cut off",
      revoked.filter((r) => !r.cutOff).map((r) => r.deviceId),
      `${revoked.length} sessions closed by the server`,
    ),
    check(
      "revoked devices were refused on reconnect",
      revoked.filter((r) => !r.refusedOnReconnect).map((r) => r.deviceId),
      `${revoked.length} refused`,
    ),
    check(
      "the other devices kept publishing",
      silentAfter.map((j) => j.device.id),
      `${others.length} delivered after the last revocation`,
    ),
  ];
}
