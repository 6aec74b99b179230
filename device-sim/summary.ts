import type { FleetReport } from "./report.js";
import type { Distribution } from "./stats.js";

const ms = (value: number | null | undefined) =>
  value === null || value === undefined || Number.isNaN(value) ? "-" : `${Math.round(value)} ms`;
const dist = (d: Distribution | null) => (d ? `p50 ${ms(d.p50)}, p99 ${ms(d.p99)}, max ${ms(d.max)}` : "-");

/** The end-of-run summary for a human: what happened, then what was expected and whether it held. */
export function formatSummary(report: FleetReport): string {
  const m = report.messages;
  const lines = [
    `scenario ${report.scenario}: ${report.devices} devices for ${(report.durationMs / 1000).toFixed(1)} s`,
    `  enrolled      ${report.enrolled} (${report.enrollmentsPerSecond}/s), rebooted with stored credentials ${report.rebooted}`,
    `  connected     ${report.connected} (${report.handshakesPerSecond} handshakes/s)`,
    `  messages      sent ${m.sent}, received ${m.received}, lost ${m.lost}, duplicated ${m.duplicated}, out of order ${m.outOfOrder}`,
    `                unacknowledged at the end ${m.unacknowledged}, readings skipped (outbox full) ${m.skippedSamples}`,
    `  latency       publish→delivery ${dist(report.latencyMs)}`,
    `  longest gap   between two deliveries of a device that was not revoked: ${ms(report.maxDeliveryGapMs)}`,
    `  first data    boot→first delivery ${dist(report.bootToFirstDeliveryMs)}; whole fleet after ${ms(report.fleetFirstDeliveryMs)}`,
    `  commands      ${report.commands.answered}/${report.commands.sent} answered (${dist(report.commands.roundTripMs)})`,
    `  kicks         ${report.kicksObserved} observed; renewals ${report.renewals}; refusals ${report.refusals}; gave up ${report.gaveUp.length}`,
  ];
  for (const r of report.revoked) {
    const cut = r.cutOff ? `cut off after ${ms(r.cutOffAfterMs)}` : "NOT cut off";
    lines.push(
      `  revoked       ${r.deviceId}: ${r.error ? `revocation failed: ${r.error}` : `${cut}, ${r.refusedOnReconnect ? "refused on reconnect" : "NOT refused"}${r.gaveUp ? ", gave up" : ""}`}`,
    );
  }
  if (report.renewals > 0 || report.renewalRefusals > 0)
    lines.push(`  renewals      ${report.renewals} (refused ${report.renewalRefusals})`);
  if (report.rotation)
    lines.push(
      `  rotation      ${report.rotation.error ? `FAILED: ${report.rotation.error}` : `to ${report.rotation.caId}`} in ${ms(report.rotation.doneAt - report.rotation.requestedAt)}`,
    );
  for (const g of report.gaveUp.slice(0, 10)) lines.push(`  gave up       ${g.deviceId}: ${g.reason}`);
  for (const p of report.problems)
    lines.push(
      `  problem       ${p.deviceId}: lost ${p.lost}, duplicated ${p.duplicated}, out of order ${p.outOfOrder}`,
    );
  lines.push("expectations:");
  for (const e of report.expectations) lines.push(`  ${e.ok ? "ok  " : "FAIL"} ${e.name}: ${e.detail}`);
  lines.push(report.ok ? "result: ok" : "result: FAILED");
  return lines.join("\n");
}
