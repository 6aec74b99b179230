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
  return expectations;
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
