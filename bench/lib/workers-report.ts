/** `bench:enroll -- --workers 1,2`: the same benchmark per worker count, side by side. */
import type { Report } from "./enroll-report.js";
import { round } from "./stats.js";
import { section } from "./table.js";

export interface WorkersComparison {
  readonly workers: readonly number[];
  readonly rows: readonly {
    readonly figure: string;
    readonly values: (number | null)[];
    readonly ratio: number | null;
  }[];
}

export function compareWorkers(reports: readonly Report[]): WorkersComparison {
  const row = (figure: string, pick: (r: Report) => number | null) => {
    const values = reports.map(pick);
    const [first, last] = [values[0], values.at(-1)];
    return { figure, values, ratio: first && last ? round(last / first, 2) : null };
  };
  return {
    workers: reports.map((r) => r.run.workers ?? 1),
    rows: [
      row("enrollments/s", (r) => r.results.enrollmentsPerSecond),
      row("server CPU ms per enrollment (all processes)", (r) => r.results.serverCpuMsPerEnrollment),
      row("server CPU busy, cores", (r) => r.results.serverCpuCoresBusy),
      row("client CPU ms per enrollment", (r) => r.results.clientCpuMsPerEnrollment),
      row("latency p50 ms", (r) => round(r.latencyMs["all"]!.p50, 1)),
      row("latency p99 ms", (r) => round(r.latencyMs["all"]!.p99, 1)),
      // Everything else on the machine (PostgreSQL and Redis included): how comparable the runs were.
      row("other processes busy, cores", (r) => r.results.otherProcessesCoresBusy),
      row("load average 1 min, at end", (r) => r.machine.loadAverage1m),
    ],
  };
}

export function workersComparisonText(comparison: WorkersComparison): string {
  const { workers } = comparison;
  return section(
    "serve --workers: PostgreSQL + Redis, one run each on a fresh data dir, schema and key prefix",
    comparison.rows.map((r) => [r.figure, ...r.values, r.ratio === null ? null : `${r.ratio}x`]),
    ["", ...workers.map((n) => `${n} worker${n === 1 ? "" : "s"}`), `${workers.at(-1)} / ${workers[0]}`],
  );
}
