/** The broker benchmark's report: fleetgate vs Mosquitto figures, ratios, targets; JSON is the object itself. */
import { execFileSync } from "node:child_process";
import type { BrokerFigures, HandshakeFigures } from "./broker-phases.js";
import { machineInfo, type MachineInfo } from "./machine.js";
import { round, summarize, type LatencySummary } from "./stats.js";
import { section, type Cell } from "./table.js";

/** The issue's straightforward Aedes build, as multiples of Mosquitto: fleetgate must be at or below. */
export const AEDES_BASELINE_RATIO = { handshakeCpu: 1.7, messageCpu: 5.6, rssPerConnection: 2.8 } as const;

type Metric = keyof typeof AEDES_BASELINE_RATIO;

/** Issue 11's TLS targets, as multiples of a Mosquitto figure measured in the same run. */
export const TLS_TARGET_RATIO = {
  freshHandshake: 1.2,
  accumulatedHandshake: 1.2,
  resumedVsResumed: 1.0,
  resumedVsFresh: 0.5,
} as const;

type TlsMetric = keyof typeof TLS_TARGET_RATIO;

export interface RunInfo {
  readonly devices: number;
  readonly handshakes: number;
  readonly messages: number;
  readonly ratePerSecond: number;
  readonly revocations: number;
  readonly concurrency: number;
  /** fleetgate as `serve --workers N` on PostgreSQL + Redis; absent: one process on SQLite. */
  readonly workers?: number;
  readonly accumulate: number;
  readonly accumulateConcurrency: number;
  /** Untimed full handshakes before the handshake and kept-open phases. */
  readonly warmup: number;
}

export interface TlsRatio {
  readonly fleetgateUs: number | null;
  readonly mosquittoUs: number | null;
  readonly measured: number | null;
  readonly target: number;
  readonly met: boolean | null;
}

export interface BrokerReport {
  readonly machine: MachineInfo;
  readonly uptime: { start: string; end: string };
  readonly run: RunInfo;
  readonly wallSeconds: number;
  readonly fleetgate: BrokerFigures | null;
  readonly mosquitto: BrokerFigures | null;
  readonly ratios: Record<Metric, { measured: number | null; baseline: number; met: boolean | null }>;
  readonly tlsRatios: Record<TlsMetric, TlsRatio>;
  readonly revocation: (LatencySummary & { notClosed: number }) | null;
  /** --floor: the handshake phase on Node's TLS alone and on a default Aedes over it. */
  readonly floor: { readonly tls: FloorFigures; readonly aedes: FloorFigures } | null;
  readonly problems: string[];
}

export type FloorFigures = Pick<BrokerFigures, "handshake" | "resumedHandshake">;

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

/** fleetgate's figure over Mosquitto's (`mosquitto` picks which Mosquitto figure), against the target. */
const TLS_FIGURES: Record<
  TlsMetric,
  { fleetgate: (f: BrokerFigures) => number | null; mosquitto: (f: BrokerFigures) => number | null }
> = {
  freshHandshake: { fleetgate: (f) => f.handshake.cpuUsPer, mosquitto: (f) => f.handshake.cpuUsPer },
  accumulatedHandshake: {
    fleetgate: (f) => f.accumulated?.cpuUsPer ?? null,
    mosquitto: (f) => f.accumulated?.cpuUsPer ?? null,
  },
  resumedVsResumed: { fleetgate: (f) => f.resumedHandshake.cpuUsPer, mosquitto: (f) => f.resumedHandshake.cpuUsPer },
  resumedVsFresh: { fleetgate: (f) => f.resumedHandshake.cpuUsPer, mosquitto: (f) => f.handshake.cpuUsPer },
};

export function tlsRatios(fleetgate: BrokerFigures | null, mosquitto: BrokerFigures | null): BrokerReport["tlsRatios"] {
  const entry = (metric: TlsMetric): TlsRatio => {
    const fleetgateUs = fleetgate ? TLS_FIGURES[metric].fleetgate(fleetgate) : null;
    const mosquittoUs = mosquitto ? TLS_FIGURES[metric].mosquitto(mosquitto) : null;
    const quotient = fleetgateUs !== null && mosquittoUs ? fleetgateUs / mosquittoUs : null;
    const measured = quotient !== null && Number.isFinite(quotient) ? round(quotient, 2) : null;
    const target = TLS_TARGET_RATIO[metric];
    return { fleetgateUs, mosquittoUs, measured, target, met: measured === null ? null : quotient! <= target };
  };
  return {
    freshHandshake: entry("freshHandshake"),
    accumulatedHandshake: entry("accumulatedHandshake"),
    resumedVsResumed: entry("resumedVsResumed"),
    resumedVsFresh: entry("resumedVsFresh"),
  };
}

export function revocationSummary(latenciesMs: readonly number[], notClosed: number): BrokerReport["revocation"] {
  return { ...summarize(latenciesMs), notClosed };
}

export function buildReport(parts: Omit<BrokerReport, "machine" | "ratios" | "tlsRatios">): BrokerReport {
  const { fleetgate, mosquitto } = parts;
  return {
    machine: machineInfo(),
    ...parts,
    ratios: ratios(fleetgate, mosquitto),
    tlsRatios: tlsRatios(fleetgate, mosquitto),
  };
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

function tlsRows(report: BrokerReport): Cell[][] {
  const row = (label: string, r: TlsRatio): Cell[] => [
    label,
    num(r.fleetgateUs),
    num(r.mosquittoUs),
    r.measured === null ? "-" : `${r.measured}×`,
    `≤ ${r.target}×`,
    r.met === null ? "-" : r.met ? "met" : "NOT met",
  ];
  const t = report.tlsRatios;
  const { accumulate, accumulateConcurrency } = report.run;
  const rows = [
    row("fresh, connect → DISCONNECT", t.freshHandshake),
    row(`fresh, ${accumulate} kept open, ${accumulateConcurrency} in flight`, t.accumulatedHandshake),
    row("resumed (vs Mosquitto resumed)", t.resumedVsResumed),
    row("resumed (vs Mosquitto fresh)", t.resumedVsFresh),
  ];
  return [...rows, ...floorRows(report)];
}

/** The floor processes' figures as multiples of Mosquitto's (no target: they show what is reachable). */
function floorRows(report: BrokerReport): Cell[][] {
  const mq = report.mosquitto;
  if (!report.floor) return [];
  const times = (us: number, of: number | undefined) => (of ? `${round(us / of, 2)}×` : "-");
  return (["tls", "aedes"] as const).flatMap((mode) => {
    const f = report.floor![mode];
    const label = mode === "tls" ? "floor: Node TLS alone" : "floor: default Aedes on Node TLS";
    return [
      [
        `${label}, fresh`,
        num(f.handshake.cpuUsPer),
        num(mq?.handshake.cpuUsPer),
        times(f.handshake.cpuUsPer, mq?.handshake.cpuUsPer),
        "",
        "",
      ],
      [
        `${label}, resumed`,
        num(f.resumedHandshake.cpuUsPer),
        num(mq?.resumedHandshake.cpuUsPer),
        times(f.resumedHandshake.cpuUsPer, mq?.resumedHandshake.cpuUsPer),
        "",
        "",
      ],
    ];
  });
}

const handshakeLine = (h: HandshakeFigures | null): string =>
  h === null
    ? "not measured"
    : `${h.count} in ${num(h.wallSeconds, 1)} s, broker CPU ${num(h.cpuMs, 0)} ms, resumed ${h.resumed}`;

function detailRows(name: string, f: BrokerFigures | null): Cell[][] {
  if (!f) return [[name, "not measured"]];
  const { handshake: h, idle: i, messages: m } = f;
  return [
    [name, "handshakes", handshakeLine(h)],
    ["", "resumed", handshakeLine(f.resumedHandshake)],
    ["", "kept open", handshakeLine(f.accumulated)],
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
    `run      ${run.devices} devices, ${run.handshakes} handshakes, ${run.messages} QoS 1 messages at ${run.ratePerSecond}/s, ${run.revocations} revocations, warm-up ${run.warmup} handshakes; ${num(report.wallSeconds, 0)} s in all`,
    `fleetgate ${run.workers === undefined ? "one process, SQLite" : `serve --workers ${run.workers}, PostgreSQL + Redis (CPU and RSS of every process)`}`,
    section("broker figures", mainRows(report), [
      "",
      "fleetgate",
      "mosquitto",
      "fleetgate/mosquitto",
      "issue's Aedes",
      "target",
    ]),
    section("broker CPU µs per mTLS handshake (ECDSA P-256)", tlsRows(report), [
      "",
      "fleetgate",
      "mosquitto",
      "fleetgate/mosquitto",
      "target",
      "",
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
