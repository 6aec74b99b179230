/**
 * `npm run bench`: the three benchmarks, one after another on this machine (never at once: each
 * measures CPU), then one table with the figures, the Mosquitto ratios and the targets.
 *
 *   npx tsx bench/all.ts [--quick] [--json] [--html FILE] [--from FILE.json]
 *
 * Each benchmark runs as its own process with `--json`; its progress goes to stderr as it runs.
 * `--quick` scales every benchmark down (a smoke run, not figures to report). `--html FILE` also
 * writes the table as a self-contained page of bar charts; `--from` re-renders a saved `--json`
 * output instead of running anything (e.g. `--from old.json --html old.html`).
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { benchHtml, type BenchResults } from "./lib/bench-html.js";
import type { BrokerReport } from "./lib/broker-report.js";
import type { Report as EnrollReport } from "./lib/enroll-report.js";
import { REPO_ROOT } from "./lib/fleetgate.js";
import { machineInfo } from "./lib/machine.js";
import { round } from "./lib/stats.js";
import { section, type Cell } from "./lib/table.js";
import type { StormFigures } from "./storm.js";

const QUICK_ARGS: Record<string, string[]> = {
  "enroll.ts": ["--devices", "300", "--warmup", "30"],
  "broker.ts": ["--devices", "300", "--handshakes", "200", "--messages", "3000", "--revocations", "20"],
  "storm.ts": ["--devices", "300"],
};

/** Runs one benchmark script with --json; resolves with its parsed stdout, or null if it broke. */
function runBenchmark<T>(script: string, quick: boolean): Promise<{ report: T | null; exitCode: number | null }> {
  const args = ["--import", "tsx", `bench/${script}`, "--json", ...(quick ? QUICK_ARGS[script]! : [])];
  console.error(`\n[bench] ── ${script} ${args.slice(3).join(" ")}`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.on("close", (exitCode) => {
      try {
        resolve({ report: JSON.parse(stdout) as T, exitCode });
      } catch {
        resolve({ report: null, exitCode });
      }
    });
  });
}

const ms = (value: number | null | undefined): Cell =>
  value === null || value === undefined || !Number.isFinite(value) ? null : round(value, 1);
const ratio = (r: { measured: number | null; baseline: number; met: boolean | null } | undefined): Cell =>
  r?.measured == null ? null : `${r.measured}× (issue: ≤ ${r.baseline}×, ${r.met ? "met" : "NOT met"})`;

function enrollRows(report: EnrollReport | null): Cell[][] {
  if (!report) return [["enrollments/s, fresh TLS per device", null, null, "benchmark failed"]];
  const { results, latencyMs, targets } = report;
  return [
    [
      "enrollments/s, fresh TLS per device",
      results.enrollmentsPerSecond,
      null,
      `target ≥ ${targets.enrollmentsPerSecond.target}: ${targets.enrollmentsPerSecond.met ? "met" : "missed"}`,
    ],
    [
      "enrollment p50 / p99 ms",
      `${ms(latencyMs["all"]?.p50)} / ${ms(latencyMs["all"]?.p99)}`,
      null,
      `p99 target < ${targets.p99Ms.target}: ${targets.p99Ms.met ? "met" : "missed"}`,
    ],
    ["server CPU ms per enrollment", results.serverCpuMsPerEnrollment, null, null],
  ];
}

function brokerRows(report: BrokerReport | null): Cell[][] {
  if (!report) return [["broker (fleetgate vs Mosquitto)", null, null, "benchmark failed"]];
  const fg = report.fleetgate;
  const mq = report.mosquitto;
  return [
    [
      "broker CPU µs per mTLS handshake",
      ms(fg?.handshake.cpuUsPer),
      ms(mq?.handshake.cpuUsPer),
      ratio(report.ratios.handshakeCpu),
    ],
    [
      `broker CPU µs per QoS 1 message (${report.run.devices} connected)`,
      ms(fg?.messages.cpuUsPer),
      ms(mq?.messages.cpuUsPer),
      ratio(report.ratios.messageCpu),
    ],
    [
      `broker RSS KiB per idle connection (${report.run.devices})`,
      ms(fg?.idle.kibPerConnection),
      ms(mq?.idle.kibPerConnection),
      ratio(report.ratios.rssPerConnection),
    ],
    [
      `revoke → socket closed p50 / p99 ms (${report.run.revocations})`,
      report.revocation ? `${ms(report.revocation.p50)} / ${ms(report.revocation.p99)}` : null,
      "n/a (no live revocation)",
      "target p99 < 100 ms",
    ],
  ];
}

function stormRows(figures: StormFigures | null): Cell[][] {
  if (!figures) return [["storm: first boot → first telemetry, whole fleet", null, null, "benchmark failed"]];
  return [
    [
      `storm: ${figures.devices} devices, first boot → first telemetry (s)`,
      figures.fleetFirstDeliverySeconds,
      null,
      figures.allDelivered && figures.lost === 0 ? "every device delivered, 0 lost" : "NOT every device delivered",
    ],
  ];
}

/** A saved `--json` output (npm's banner lines before the JSON, if any, are skipped). */
function savedResults(file: string): BenchResults {
  const text = readFileSync(file, "utf8");
  return JSON.parse(text.slice(text.indexOf("{"))) as BenchResults;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      html: { type: "string" },
      from: { type: "string" },
    },
    strict: true,
  });
  if (values.from !== undefined) {
    if (values.html === undefined) throw new Error("--from needs --html FILE");
    writeFileSync(values.html, benchHtml(savedResults(values.from)));
    console.error(`[bench] wrote ${values.html}`);
    return 0;
  }
  const quick = values.quick ?? false;
  const enroll = await runBenchmark<EnrollReport>("enroll.ts", quick);
  const broker = await runBenchmark<BrokerReport>("broker.ts", quick);
  const storm = await runBenchmark<{ storm: StormFigures }>("storm.ts", quick);
  const machine = machineInfo();
  const results = { machine, enroll: enroll.report, broker: broker.report, storm: storm.report?.storm ?? null };
  if (values.html !== undefined) {
    writeFileSync(values.html, benchHtml(results));
    console.error(`[bench] wrote ${values.html}`);
  }
  if (values.json) {
    console.log(JSON.stringify(results, null, 2));
  } else {
    const rows = [
      ...enrollRows(enroll.report),
      ...brokerRows(broker.report),
      ...stormRows(storm.report?.storm ?? null),
    ];
    console.log(
      `\nmachine: ${machine.cores} cores (${machine.model}), ${machine.memoryGiB} GiB, ${machine.os}, node ${machine.node}`,
    );
    console.log(section("fleetgate benchmarks", rows, ["figure", "fleetgate", "Mosquitto", "ratio / target"]));
  }
  return [enroll, broker, storm].every((b) => b.exitCode === 0) ? 0 : 1;
}

process.exitCode = await main();
