/** The cluster benchmark's report: every run's figures, their median and range, targets; JSON is the object. */
import type { FailoverFigures, RevokeFigures } from "./cluster-failures.js";
import type { LatencyFigures, MessageCpuFigures } from "./cluster-phases.js";
import type { MachineInfo } from "./machine.js";
import { profileDiffText, type ProfileDiff } from "./profile-diff.js";
import { round } from "./stats.js";
import { section, type Cell } from "./table.js";

/** The targets: revoke → closed p99 across nodes, cluster CPU per QoS 1 message vs one node. */
export const TARGETS = { revokeP99Ms: 250, cpuRatio: 1.5 } as const;

export interface SingleFigures {
  readonly cpu: MessageCpuFigures;
  readonly latency: LatencyFigures | null;
}

export interface RunFigures {
  readonly sqlite: SingleFigures | null;
  readonly postgres: SingleFigures;
  readonly cluster: {
    readonly cpu: MessageCpuFigures;
    readonly latency: LatencyFigures | null;
    readonly revoke: RevokeFigures | null;
    readonly failover: FailoverFigures | null;
  };
}

export interface Spread {
  readonly median: number | null;
  readonly min: number | null;
  readonly max: number | null;
}

export interface ClusterReport {
  readonly machine: MachineInfo;
  readonly uptime: { start: string; end: string };
  readonly settings: Record<string, number | boolean>;
  readonly wallSeconds: number;
  readonly runs: RunFigures[];
  /** Per figure (the keys of FIGURES), median and range over the runs. */
  readonly summary: Record<string, Spread>;
  readonly problems: string[];
  /** With --profile: self time by area, single node on PostgreSQL vs the cluster's nodes summed. */
  readonly profile: ProfileDiff | null;
}

type Pick = (run: RunFigures) => number | null | undefined;
const perMessage = (ms: number | null | undefined, cpu: MessageCpuFigures) =>
  ms == null ? null : (ms * 1000) / Math.max(1, cpu.messages.delivered);

/** Every scalar figure of a run, by a stable name: the rows of the report and the keys of `summary`. */
export const FIGURES: Record<string, Pick> = {
  "cpu µs/msg, single SQLite": (r) => r.sqlite?.cpu.cpuUsPerMessage,
  "cpu µs/msg, single PostgreSQL": (r) => r.postgres.cpu.cpuUsPerMessage,
  "cpu µs/msg, cluster (3 nodes)": (r) => r.cluster.cpu.cpuUsPerMessage,
  "cpu ratio cluster / single PostgreSQL": (r) => r.cluster.cpu.cpuUsPerMessage / r.postgres.cpu.cpuUsPerMessage,
  "cpu ratio cluster / single SQLite": (r) => r.sqlite && r.cluster.cpu.cpuUsPerMessage / r.sqlite.cpu.cpuUsPerMessage,
  "cpu µs/msg, node 1 (publishers)": (r) => perMessage(r.cluster.cpu.perNodeCpuMs["n1"], r.cluster.cpu),
  "cpu µs/msg, node 2 (subscriber)": (r) => perMessage(r.cluster.cpu.perNodeCpuMs["n2"], r.cluster.cpu),
  "cpu µs/msg, node 3 (idle)": (r) => perMessage(r.cluster.cpu.perNodeCpuMs["n3"], r.cluster.cpu),
  "redis-server µs/msg, cluster (shared Redis)": (r) => perMessage(r.cluster.cpu.redisCpuMs, r.cluster.cpu),
  "latency p50 ms, single SQLite": (r) => r.sqlite?.latency?.sameNode.p50,
  "latency p99 ms, single SQLite": (r) => r.sqlite?.latency?.sameNode.p99,
  "latency p50 ms, single PostgreSQL": (r) => r.postgres.latency?.sameNode.p50,
  "latency p99 ms, single PostgreSQL": (r) => r.postgres.latency?.sameNode.p99,
  "latency p50 ms, cluster same node": (r) => r.cluster.latency?.sameNode.p50,
  "latency p99 ms, cluster same node": (r) => r.cluster.latency?.sameNode.p99,
  "latency p50 ms, cluster cross node": (r) => r.cluster.latency?.crossNode?.p50,
  "latency p99 ms, cluster cross node": (r) => r.cluster.latency?.crossNode?.p99,
  "revoke → closed p50 ms": (r) => r.cluster.revoke?.closedMs.p50,
  "revoke → closed p99 ms": (r) => r.cluster.revoke?.closedMs.p99,
  "revoke → closed max ms": (r) => r.cluster.revoke?.closedMs.max,
  "revoke → API answer p50 ms": (r) => r.cluster.revoke?.answeredMs.p50,
  "revoke → API answer p99 ms": (r) => r.cluster.revoke?.answeredMs.p99,
  "failover CONNACK p50 ms": (r) => r.cluster.failover?.reconnectMs.p50,
  "failover CONNACK p99 ms": (r) => r.cluster.failover?.reconnectMs.p99,
  "failover CONNACK max ms": (r) => r.cluster.failover?.reconnectMs.max,
  "failover kill → socket closed at device p50 ms": (r) => r.cluster.failover?.closeSeenMs.p50,
  "failover reconnect attempt → CONNACK p50 ms": (r) => r.cluster.failover?.attemptToConnackMs.p50,
  "failover reconnect attempt → CONNACK p99 ms": (r) => r.cluster.failover?.attemptToConnackMs.p99,
  "failover all listed online ms": (r) => r.cluster.failover?.listedOnlineMs,
  "failover dead node's sessions unlisted ms": (r) => r.cluster.failover?.deadSessionsGoneMs,
  "failover survivors' CPU ms per device": (r) => r.cluster.failover?.survivorCpuMsPerDevice,
  "other processes busy, cores (failover)": (r) => r.cluster.failover?.survivors.otherCoresBusy,
  "other processes busy, cores (cluster CPU phase)": (r) => r.cluster.cpu.otherCoresBusy,
  "other processes busy, cores (PostgreSQL CPU phase)": (r) => r.postgres.cpu.otherCoresBusy,
};

function spreadOf(values: readonly number[]): Spread {
  if (values.length === 0) return { median: null, min: null, max: null };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median: round(median, 2), min: round(sorted[0]!, 2), max: round(sorted[sorted.length - 1]!, 2) };
}

export function summarizeRuns(runs: readonly RunFigures[]): Record<string, Spread> {
  return Object.fromEntries(
    Object.entries(FIGURES).map(([name, pick]) => {
      const values = runs.map(pick).filter((v): v is number => typeof v === "number" && Number.isFinite(v));
      return [name, spreadOf(values)];
    }),
  );
}

export function problemsOf(runs: readonly RunFigures[], options: { messages: number }): string[] {
  const problems: string[] = [];
  runs.forEach((run, i) => {
    const tag = `run ${i + 1}`;
    for (const [name, cpu] of [
      ["SQLite", run.sqlite?.cpu],
      ["PostgreSQL", run.postgres.cpu],
      ["cluster", run.cluster.cpu],
    ] as const)
      if (cpu && (cpu.messages.delivered < options.messages || cpu.messages.acked < options.messages))
        problems.push(
          `${tag} ${name}: ${cpu.messages.delivered}/${options.messages} delivered, ${cpu.messages.acked} acked`,
        );
    for (const latency of [run.sqlite?.latency, run.postgres.latency, run.cluster.latency])
      if (latency && latency.lost > 0) problems.push(`${tag}: ${latency.lost} latency samples never arrived`);
    const { revoke, failover } = run.cluster;
    if (revoke && revoke.notClosed > 0)
      problems.push(`${tag}: ${revoke.notClosed} revoked devices still connected after 10 s`);
    if (failover && failover.notReconnected > 0)
      problems.push(`${tag}: ${failover.notReconnected}/${failover.devices} failover devices not back within 60 s`);
    if (failover && failover.listedOnlineMs === null)
      problems.push(`${tag}: the admin API never listed every device online`);
  });
  return problems;
}

const TARGET_OF: Record<string, string> = {
  "cpu ratio cluster / single PostgreSQL": `≤ ${TARGETS.cpuRatio}×`,
  "cpu ratio cluster / single SQLite": `≤ ${TARGETS.cpuRatio}×`,
  "revoke → closed p99 ms": `< ${TARGETS.revokeP99Ms} ms`,
};

function cellOf(spread: Spread, runs: number): Cell {
  if (spread.median === null) return null;
  return runs > 1 ? `${spread.median} (${spread.min}–${spread.max})` : spread.median;
}

function runDetails(run: RunFigures, i: number): string {
  const { revoke, failover, cpu } = run.cluster;
  const rows: Cell[][] = [
    [
      "cluster CPU ms per node",
      Object.entries(cpu.perNodeCpuMs)
        .map(([n, ms]) => `${n} ${Math.round(ms)}`)
        .join(", "),
    ],
    ["cluster QoS 1 phase wall s", round(cpu.wallSeconds, 1)],
  ];
  if (revoke) {
    rows.push(["revocations: devices by node", JSON.stringify(revoke.connectedByNode)]);
    rows.push(["revocations: kicks reported by node", JSON.stringify(revoke.kicksByNode)]);
  }
  if (failover) {
    rows.push(["failover: back on", JSON.stringify(failover.reconnectedByNode)]);
    rows.push(["failover: session present / devices", `${failover.sessionPresent} / ${failover.devices}`]);
    rows.push(["failover: attempts per device p50/max", `${failover.attempts.p50} / ${failover.attempts.max}`]);
    rows.push(["failover: errors seen", JSON.stringify(failover.errors)]);
  }
  return section(`run ${i + 1}`, rows);
}

export function humanReport(report: ClusterReport): string {
  const n = report.runs.length;
  const m = report.machine;
  const rows = Object.keys(FIGURES)
    .filter((name) => report.summary[name]?.median !== null)
    .map((name) => [name, cellOf(report.summary[name]!, n), TARGET_OF[name] ?? ""]);
  const header = ["figure", n > 1 ? `median (min–max) of ${n} runs` : "value", "target"];
  return [
    `bench:cluster on ${m.cores} cores (${m.model}), ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}`,
    `settings ${JSON.stringify(report.settings)}`,
    `load at start: ${report.uptime.start}\nload at end:   ${report.uptime.end}`,
    section("figures", rows, header),
    ...report.runs.map(runDetails),
    ...(report.profile ? [profileDiffText("CPU profiles: single node on PostgreSQL vs cluster", report.profile)] : []),
    `wall time ${round(report.wallSeconds, 0)} s`,
    report.problems.length ? `PROBLEMS:\n  ${report.problems.join("\n  ")}` : "every phase completed",
  ].join("\n\n");
}
