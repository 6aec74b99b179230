/** The broker benchmark's report: fleetgate vs Mosquitto figures, ratios, targets; JSON is the object itself. */
import { execFileSync } from "node:child_process";
import type { BrokerFigures } from "./broker-phases.js";
import { machineInfo, type MachineInfo } from "./machine.js";
import { round, summarize, type LatencySummary } from "./stats.js";
import { section, type Cell } from "./table.js";

/** The issue's straightforward Aedes build, as multiples of Mosquitto: fleetgate must be at or below. */
export const AEDES_BASELINE_RATIO = { handshakeCpu: 1.7, messageCpu: 5.6, rssPerConnection: 2.8 } as const;

type Metric = keyof typeof AEDES_BASELINE_RATIO;

export interface RunInfo {
  readonly devices: number;
  readonly handshakes: number;
  readonly messages: number;
  readonly ratePerSecond: number;
  readonly revocations: number;
  readonly concurrency: number;
  /** fleetgate as `serve --workers N` on PostgreSQL + Redis; absent: one process on SQLite. */
  readonly workers?: number;
}

export interface BrokerReport {
  readonly machine: MachineInfo;
  readonly uptime: { start: string; end: string };
  readonly run: RunInfo;
  readonly wallSeconds: number;
  readonly fleetgate: BrokerFigures | null;
  readonly mosquitto: BrokerFigures | null;
  readonly ratios: Record<Metric, { measured: number | null; baseline: number; met: boolean | null }>;
  readonly revocation: (LatencySummary & { notClosed: number }) | null;
  readonly problems: string[];
}

/** `uptime` as the shell prints it (load averages included), so a reader sees what else was running. */
export function uptimeLine(): string {
  try {
    return execFileSync("uptime", { encoding: "utf8" }).trim();
  } catch {
    return "uptime unavailable";
  }
}

const METRIC_VALUE: Record<Metric, (f: BrokerFigures) => number> = {
  handshakeCpu: (f) => f.handshake.cpuUsPer,
  messageCpu: (f) => f.messages.cpuUsPer,
  rssPerConnection: (f) => f.idle.kibPerConnection,
};

export function ratios(fleetgate: BrokerFigures | null, mosquitto: BrokerFigures | null): BrokerReport["ratios"] {
  const entry = (metric: Metric) => {
    const measured = fleetgate && mosquitto ? METRIC_VALUE[metric](fleetgate) / METRIC_VALUE[metric](mosquitto) : null;
    const valid = measured !== null && Number.isFinite(measured);
    const baseline = AEDES_BASELINE_RATIO[metric];
    return { measured: valid ? round(measured, 2) : null, baseline, met: valid ? measured <= baseline : null };
  };
  return {
    handshakeCpu: entry("handshakeCpu"),
    messageCpu: entry("messageCpu"),
    rssPerConnection: entry("rssPerConnection"),
  };
}

export function revocationSummary(latenciesMs: readonly number[], notClosed: number): BrokerReport["revocation"] {
  return { ...summarize(latenciesMs), notClosed };
}

export function buildReport(parts: Omit<BrokerReport, "machine" | "ratios">): BrokerReport {
  return { machine: machineInfo(), ...parts, ratios: ratios(parts.fleetgate, parts.mosquitto) };
}

const num = (value: number | null | undefined, digits = 1): Cell =>
  value === null || value === undefined ? "-" : round(value, digits);

function ratioCells(r: BrokerReport["ratios"][Metric]): Cell[] {
  const verdict = r.met === null ? "-" : r.met ? "met" : "NOT met";
  return [r.measured === null ? "-" : `${r.measured}×`, `≤ ${r.baseline}×`, verdict];
}

function mainRows(report: BrokerReport): Cell[][] {
  const { fleetgate: fg, mosquitto: mq, ratios: r, revocation: rv } = report;
  const row = (label: string, metric: Metric): Cell[] => [
    label,
    num(fg && METRIC_VALUE[metric](fg)),
    num(mq && METRIC_VALUE[metric](mq)),
    ...ratioCells(r[metric]),
  ];
  return [
    row("broker CPU µs per mTLS handshake", "handshakeCpu"),
    row("broker CPU µs per QoS 1 message", "messageCpu"),
    row(`broker RSS KiB per idle connection (${report.run.devices})`, "rssPerConnection"),
    ["revoke → socket closed p50 ms", num(rv?.p50, 2), "n/a", "-", "-", "-"],
    ["revoke → socket closed p99 ms", num(rv?.p99, 2), "n/a", "-", "-", "-"],
  ];
}

function detailRows(name: string, f: BrokerFigures | null): Cell[][] {
  if (!f) return [[name, "not measured"]];
  const { handshake: h, idle: i, messages: m } = f;
  return [
    [
      name,
      "handshakes",
      `${h.count} in ${num(h.wallSeconds, 1)} s, broker CPU ${num(h.cpuMs, 0)} ms, resumed ${h.resumed}`,
    ],
    [
      "",
      "idle",
      `${i.connections} connections in ${num(i.connectSeconds, 1)} s, RSS ${i.rssBeforeKiB} → ${i.rssAfterKiB} KiB`,
    ],
    [
      "",
      "QoS 1",
      `${m.delivered}/${m.published} delivered (acked ${m.acked}, duplicates ${m.duplicates}) in ${num(m.wallSeconds, 1)} s, broker CPU ${num(m.cpuMs, 0)} ms`,
    ],
  ];
}

export function humanReport(report: BrokerReport): string {
  const { machine: m, run } = report;
  const parts = [
    `machine  ${m.cores} cores (${m.model}), ${m.memoryGiB} GiB, ${m.os}, node ${m.node}`,
    `uptime   start: ${report.uptime.start}\n         end:   ${report.uptime.end}`,
    `run      ${run.devices} devices, ${run.handshakes} handshakes, ${run.messages} QoS 1 messages at ${run.ratePerSecond}/s, ${run.revocations} revocations; ${num(report.wallSeconds, 0)} s in all`,
    `fleetgate ${run.workers === undefined ? "one process, SQLite" : `serve --workers ${run.workers}, PostgreSQL + Redis (CPU and RSS of every process)`}`,
    section("broker figures", mainRows(report), [
      "",
      "fleetgate",
      "mosquitto",
      "fleetgate/mosquitto",
      "issue's Aedes",
      "target",
    ]),
    section("details", [...detailRows("fleetgate", report.fleetgate), ...detailRows("mosquitto", report.mosquitto)]),
  ];
  if (report.revocation)
    parts.push(
      `revocations: ${report.revocation.count} closed (max ${num(report.revocation.max, 2)} ms), ${report.revocation.notClosed} not closed`,
    );
  if (report.problems.length > 0) parts.push(`PROBLEMS:\n${report.problems.map((p) => `  ${p}`).join("\n")}`);
  return parts.join("\n\n");
}
