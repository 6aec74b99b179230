/** The enrollment benchmark's report: the figures, the targets, and a human rendering (JSON is the object itself). */
import type { ProfileSummary } from "./cpuprofile.js";
import type { EnrollMethod, EnrollOutcome } from "./enroll-client.js";
import { machineInfo, type MachineInfo } from "./machine.js";
import type { SystemCpu } from "./proc-cpu.js";
import { round, summarize, type LatencySummary } from "./stats.js";
import { section, type Cell } from "./table.js";

/** Issue 2, on the 2-core machine. */
export const TARGET = { enrollmentsPerSecond: 300, p99Ms: 250 } as const;

export interface RunInfo {
  readonly devices: number;
  readonly concurrency: number;
  readonly method: EnrollMethod | "both";
  readonly warmup: number;
  readonly rateLimitsRaised: true;
  readonly csrPregenerationSeconds: number | null;
  /** Where the issuing CA key was: a 0600 file or a SoftHSM2 token. */
  readonly caKey?: "file" | "pkcs11";
  /** `serve --workers N` on PostgreSQL + Redis; absent: the embedded SQLite server. */
  readonly workers?: number;
}

export interface Measurement {
  readonly outcomes: EnrollOutcome[];
  readonly wallSeconds: number;
  readonly serverCpuMs: number | null;
  readonly clientCpuMs: number;
  /** Machine-wide CPU over the timed phase (all processes), null without /proc. */
  readonly system: SystemCpu | null;
}

export interface Results {
  readonly ok: number;
  readonly failed: number;
  readonly registeredDevices: number;
  readonly wallSeconds: number | null;
  readonly enrollmentsPerSecond: number | null;
  readonly serverCpuMsPerEnrollment: number | null;
  /** 1000 / server CPU ms per enrollment: the rate one fully busy server core would sustain. */
  readonly serverCeilingPerCore: number | null;
  readonly serverCpuCoresBusy: number | null;
  readonly clientCpuMsPerEnrollment: number | null;
  readonly otherProcessesCoresBusy: number | null;
  readonly iowaitCores: number | null;
}

export interface Report {
  readonly machine: MachineInfo;
  readonly run: RunInfo;
  readonly results: Results;
  readonly latencyMs: Record<string, LatencySummary>;
  readonly targets: { enrollmentsPerSecond: { target: number; met: boolean }; p99Ms: { target: number; met: boolean } };
  readonly failures: { count: number; examples: string[] };
  profile?: ProfileSummary;
}

function latencies(outcomes: readonly EnrollOutcome[], method?: EnrollMethod): LatencySummary {
  return summarize(
    outcomes.filter((o) => o.ok && (method === undefined || o.method === method)).map((o) => o.latencyMs),
  );
}

function latencyTable(outcomes: readonly EnrollOutcome[], perMethod: boolean): Record<string, LatencySummary> {
  const table: Record<string, LatencySummary> = { all: latencies(outcomes) };
  if (perMethod) for (const method of ["json", "est"] as const) table[method] = latencies(outcomes, method);
  return table;
}

/** Cores kept busy by everything else on the machine during the timed phase (tests, builds, …). */
function machineLoad(m: Measurement): Pick<Results, "otherProcessesCoresBusy" | "iowaitCores"> {
  if (!m.system) return { otherProcessesCoresBusy: null, iowaitCores: null };
  const others = m.system.busyMs - (m.serverCpuMs ?? 0) - m.clientCpuMs;
  return {
    otherProcessesCoresBusy: round(Math.max(0, others) / 1000 / m.wallSeconds, 2),
    iowaitCores: round(m.system.iowaitMs / 1000 / m.wallSeconds, 2),
  };
}

function results(m: Measurement, registered: number): Results {
  const ok = m.outcomes.filter((o) => o.ok).length;
  const perEnrollment = (cpu: number | null) => (cpu === null || ok === 0 ? null : cpu / ok);
  const serverMs = perEnrollment(m.serverCpuMs);
  return {
    ok,
    failed: m.outcomes.length - ok,
    registeredDevices: registered,
    wallSeconds: round(m.wallSeconds, 3),
    enrollmentsPerSecond: round(ok / m.wallSeconds, 1),
    serverCpuMsPerEnrollment: serverMs === null ? null : round(serverMs, 2),
    serverCeilingPerCore: serverMs ? round(1000 / serverMs, 0) : null,
    serverCpuCoresBusy: m.serverCpuMs === null ? null : round(m.serverCpuMs / 1000 / m.wallSeconds, 2),
    clientCpuMsPerEnrollment: round(perEnrollment(m.clientCpuMs) ?? Number.NaN, 2),
    ...machineLoad(m),
  };
}

export function buildReport(run: RunInfo, m: Measurement, registered: number): Report {
  const r = results(m, registered);
  const failed = m.outcomes.filter((o) => !o.ok);
  const latencyMs = latencyTable(m.outcomes, run.method === "both");
  return {
    machine: machineInfo(),
    run,
    results: r,
    latencyMs,
    targets: {
      enrollmentsPerSecond: {
        target: TARGET.enrollmentsPerSecond,
        met: (r.enrollmentsPerSecond ?? 0) >= TARGET.enrollmentsPerSecond,
      },
      p99Ms: { target: TARGET.p99Ms, met: latencyMs["all"]!.p99 < TARGET.p99Ms },
    },
    failures: {
      count: failed.length,
      examples: [...new Set(failed.map((o) => `${o.method}: ${o.error}`))].slice(0, 5),
    },
  };
}

function ms(value: number): number | null {
  return round(value, 1);
}

const orNa = (value: Cell, unit = "") => (value === null || value === undefined ? "n/a" : `${value}${unit}`);

function machineRows(mc: MachineInfo): Cell[][] {
  return [
    ["cores", mc.cores],
    ["model", mc.model],
    ["memory", `${mc.memoryGiB} GiB`],
    ["os", mc.os],
    ["node", mc.node],
    ["load avg (1m, at end)", mc.loadAverage1m],
  ];
}

function runRows(run: Report["run"]): Cell[][] {
  return [
    ["devices (N)", run.devices],
    ["concurrency", run.concurrency],
    ["method", run.method === "both" ? "both (alternating json / est)" : run.method],
    ["connection", "fresh TCP + full TLS handshake per device (agent: false, no resumption)"],
    ["warm-up (untimed)", run.warmup],
    ["enroll rate limits", "raised to 1e6/s, burst 1e6, for the benchmark"],
    ["CSR pre-generation", `${run.csrPregenerationSeconds} s (untimed)`],
    ["issuing CA key", run.caKey === "pkcs11" ? "SoftHSM2 token (PKCS#11, C_SignAsync)" : "0600 file (node:crypto)"],
    [
      "server",
      run.workers === undefined ? "one process, SQLite" : `serve --workers ${run.workers}, PostgreSQL + Redis`,
    ],
  ];
}

function resultRows(r: Results): Cell[][] {
  return [
    ["succeeded / failed", `${r.ok} / ${r.failed}`],
    ["devices in registry", r.registeredDevices],
    ["wall time", `${r.wallSeconds} s`],
    ["enrollments/s", r.enrollmentsPerSecond],
    ["server CPU per enrollment", orNa(r.serverCpuMsPerEnrollment, " ms")],
    ["server ceiling, 1 busy core", orNa(r.serverCeilingPerCore, " enrollments/s")],
    ["server CPU busy", orNa(r.serverCpuCoresBusy, " cores")],
    ["client CPU per enrollment", orNa(r.clientCpuMsPerEnrollment, " ms (this process: TLS client, requests)")],
    ["other processes busy", orNa(r.otherProcessesCoresBusy, " cores (machine-wide, neither server nor client)")],
    ["iowait", orNa(r.iowaitCores, " cores")],
  ];
}

function targetRows(report: Report): Cell[][] {
  const { targets: t, results: r } = report;
  return [
    [
      "enrollments/s",
      `>= ${t.enrollmentsPerSecond.target}`,
      r.enrollmentsPerSecond,
      t.enrollmentsPerSecond.met ? "met" : "MISSED",
    ],
    ["p99 latency", `< ${t.p99Ms.target} ms`, ms(report.latencyMs["all"]!.p99), t.p99Ms.met ? "met" : "MISSED"],
  ];
}

export function humanReport(report: Report): string {
  const latencyRows = Object.entries(report.latencyMs).map(([name, s]) => [
    name,
    s.count,
    ms(s.p50),
    ms(s.p95),
    ms(s.p99),
    ms(s.max),
    ms(s.mean),
  ]);
  const parts = [
    section("machine", machineRows(report.machine)),
    section("run", runRows(report.run)),
    section("results", resultRows(report.results)),
    section("latency (ms, connect to last response byte)", latencyRows, ["", "n", "p50", "p95", "p99", "max", "mean"]),
    section("targets", targetRows(report), ["", "target", "measured", ""]),
  ];
  if (report.failures.count > 0)
    parts.push(`failures (${report.failures.count}):\n${report.failures.examples.map((e) => `  ${e}`).join("\n")}`);
  if (report.profile) parts.push(profileText(report.profile));
  return parts.join("\n\n");
}

function profileText(p: ProfileSummary): string {
  const rows = (list: ProfileSummary["topFunctions"]) =>
    list.map((f) => [`${round(f.percent, 1)}%`, `${round(f.ms, 0)} ms`, f.name]);
  return [
    `server CPU profile: ${p.file} (${round(p.totalMs / 1000, 2)} s sampled, includes start-up and warm-up)`,
    section("self time by area", rows(p.byArea.slice(0, 12))),
    section("top self-time functions", rows(p.topFunctions)),
    section("project functions, inclusive (sync parts only)", rows(p.projectInclusive)),
  ].join("\n\n");
}

/** The same benchmark with the CA key in a file and in SoftHSM2, figure by figure. */
export interface KeyComparison {
  readonly rows: readonly {
    readonly figure: string;
    readonly file: number | null;
    readonly pkcs11: number | null;
    readonly ratio: number | null;
  }[];
}

export function compareKeys(file: Report, pkcs11: Report): KeyComparison {
  const pair = (figure: string, pick: (r: Report) => number | null) => {
    const [a, b] = [pick(file), pick(pkcs11)];
    return { figure, file: a, pkcs11: b, ratio: a && b ? round(b / a, 2) : null };
  };
  return {
    rows: [
      pair("enrollments/s", (r) => r.results.enrollmentsPerSecond),
      pair("server CPU ms per enrollment", (r) => r.results.serverCpuMsPerEnrollment),
      pair("latency p50 ms", (r) => ms(r.latencyMs["all"]!.p50)),
      pair("latency p99 ms", (r) => ms(r.latencyMs["all"]!.p99)),
      // Machine-wide CPU of everything else during each run: how comparable the two runs were.
      pair("other processes busy, cores", (r) => r.results.otherProcessesCoresBusy),
    ],
  };
}

export function comparisonText(comparison: KeyComparison): string {
  return section(
    "issuing CA key: file vs SoftHSM2 (same run, fresh data dir and server each)",
    comparison.rows.map((row) => [row.figure, row.file, row.pkcs11, row.ratio === null ? null : `${row.ratio}x`]),
    ["", "file", "SoftHSM2", "SoftHSM2 / file"],
  );
}
