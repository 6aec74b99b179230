/**
 * `npm run bench:registry-copy -- [--devices 100000] [--audit 200000] [--runs 3] [--page-size 1000]
 * [--postgres URL] [--json]`: the upgrade path of README "Running a cluster", timed. A SQLite registry
 * is filled with N devices (one certificate and one spent token each) and M audit entries through the
 * port's bulk import, then the real CLI (`node bin/fleetgate.js registry copy`, from dist/: run
 * `npm run build` first) copies it into a fresh PostgreSQL schema, once per run. Reported per run:
 * wall time, rows/s, the copy process's peak RSS and CPU, its PostgreSQL backends' CPU, and what the
 * rest of the machine (other load) used meanwhile.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { SqliteRegistry } from "../src/adapters/sqlite/registry.js";
import { benchMain, integerFlag } from "./lib/bench-main.js";
import type { Cleanup } from "./lib/cleanup.js";
import { machineInfo, type MachineInfo } from "./lib/machine.js";
import { processCpuMs, systemCpu } from "./lib/proc-cpu.js";
import { peakRssKiB } from "./lib/proc-mem.js";
import { fillRegistry } from "./lib/registry-fill.js";
import { round } from "./lib/stats.js";
import { section } from "./lib/table.js";

interface Options {
  readonly devices: number;
  readonly audit: number;
  readonly runs: number;
  readonly pageSize: number;
  readonly postgres: string;
  readonly json: boolean;
}

interface Run {
  readonly seconds: number;
  readonly rowsPerSecond: number;
  readonly peakRssMiB: number | null;
  readonly copyCpuMs: number | null;
  /** CPU of the PostgreSQL backends serving the copy (found by their application_name). */
  readonly postgresCpuMs: number | null;
  /** Busy CPU of everything else on the machine during the copy (other load), in cores. */
  readonly otherCores: number | null;
}

interface Report {
  readonly machine: MachineInfo;
  readonly rows: number;
  readonly sqliteMiB: number;
  readonly fillSeconds: number;
  readonly runs: Run[];
  readonly options: Options;
}

const USAGE =
  "usage: npm run bench:registry-copy -- [--devices N] [--audit N] [--runs N] [--page-size N] " +
  "[--postgres URL] [--json]";

function parse(argv: readonly string[]): Options | null {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      devices: { type: "string" },
      audit: { type: "string" },
      runs: { type: "string" },
      "page-size": { type: "string" },
      postgres: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (values.help) return null;
  return {
    devices: integerFlag(values.devices, "devices", 100_000, 1),
    audit: integerFlag(values.audit, "audit", 200_000, 0),
    runs: integerFlag(values.runs, "runs", 3, 1),
    pageSize: integerFlag(values["page-size"], "page-size", 1000, 1),
    postgres:
      values.postgres ?? process.env["FLEETGATE_BENCH_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:5432/test",
    json: values.json ?? false,
  };
}

/**
 * The CPU time of the PostgreSQL backends named `name`, from /proc (the server runs on this host in the
 * bench setup; null when it does not). Sampled while the copy runs: a backend's /proc entry goes with it.
 */
class BackendCpu {
  private readonly seen = new Map<number, number>();
  private readonly client: pg.Client;
  private sampling = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    url: string,
    private readonly name: string,
  ) {
    this.client = new pg.Client({ connectionString: url });
  }
  async start(): Promise<void> {
    await this.client.connect();
    // One query at a time: each sample waits for the one before it.
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sample()).catch(() => undefined);
    }, 100);
  }
  private async sample(): Promise<void> {
    const sql = "SELECT pid FROM pg_stat_activity WHERE application_name = $1";
    for (const { pid } of (await this.client.query<{ pid: number }>(sql, [this.name])).rows) {
      const ms = processCpuMs(pid);
      if (ms !== null) this.seen.set(pid, ms);
    }
  }
  async stop(): Promise<number | null> {
    clearInterval(this.timer);
    await this.sampling;
    await this.client.end();
    return this.seen.size === 0 ? null : [...this.seen.values()].reduce((a, b) => a + b, 0);
  }
}

/** Spawns the CLI and samples its peak RSS and CPU from /proc until it exits. */
function runSampled(
  args: readonly string[],
): Promise<{ code: number | null; out: string; peak: number | null; cpu: number | null }> {
  const child = spawn(process.execPath, [...args], { stdio: ["ignore", "pipe", "inherit"] });
  let [peak, cpu, out]: [number | null, number | null, string] = [null, null, ""];
  const timer = setInterval(() => {
    peak = peakRssKiB(child.pid!) ?? peak;
    cpu = processCpuMs(child.pid!) ?? cpu;
  }, 20);
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve) =>
    child.on("close", (code) => {
      clearInterval(timer);
      resolve({ code, out, peak, cpu });
    }),
  );
}

/** Runs the real CLI once: its wall time, peak RSS and CPU, its PostgreSQL backends' CPU, the other load. */
async function timedCopy(options: Options, dataDir: string, schema: string): Promise<Omit<Run, "rowsPerSecond">> {
  // The driver takes application_name from the URL over fleetgate's own: it names this copy's backends.
  const to = `${options.postgres}?schema=${schema}&application_name=${schema}`;
  const args = ["bin/fleetgate.js", "registry", "copy", "--data", dataDir, "--from", "sqlite:", "--to", to];
  const backends = new BackendCpu(options.postgres, schema);
  await backends.start();
  const machineBefore = systemCpu();
  const started = performance.now();
  const { code, out, peak, cpu } = await runSampled([...args, "--page-size", String(options.pageSize), "--json"]);
  const seconds = (performance.now() - started) / 1000;
  const machineAfter = systemCpu();
  const postgresCpuMs = await backends.stop();
  if (code !== 0) throw new Error(`registry copy exited ${code}: ${out}`);
  const busy = machineBefore && machineAfter ? machineAfter.busyMs - machineBefore.busyMs : null;
  const others = busy === null || cpu === null ? null : busy - cpu - (postgresCpuMs ?? 0);
  const otherCores = others === null ? null : round(others / 1000 / seconds, 2);
  const peakRssMiB = peak === null ? null : round(peak / 1024);
  return { seconds, peakRssMiB, copyCpuMs: cpu, postgresCpuMs, otherCores };
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

async function run(options: Options, cleanup: Cleanup): Promise<Report> {
  const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-bench-copy-"));
  cleanup.add(() => rmSync(dataDir, { recursive: true, force: true }));
  const file = join(dataDir, "registry.db");
  const filled = performance.now();
  const registry = SqliteRegistry.open(file);
  await fillRegistry(registry, options);
  await registry.close();
  const fillSeconds = (performance.now() - filled) / 1000;
  const rows = options.devices * 3 + options.audit + 1;
  console.error(`[bench:registry-copy] ${rows} rows written to SQLite in ${round(fillSeconds)} s`);
  const runs: Run[] = [];
  for (let i = 0; i < options.runs; i++) {
    const schema = `fg_bench_copy_${randomBytes(4).toString("hex")}`;
    cleanup.add(() => dropSchema(options.postgres, schema));
    const timed = await timedCopy(options, dataDir, schema);
    runs.push({ ...timed, rowsPerSecond: Math.round(rows / timed.seconds) });
    console.error(`[bench:registry-copy] run ${i + 1}: ${round(timed.seconds, 2)} s`);
    await dropSchema(options.postgres, schema);
  }
  const sqliteMiB = round(statSync(file).size / 2 ** 20) ?? 0;
  return { machine: machineInfo(), rows, sqliteMiB, fillSeconds, runs, options };
}

/** CPU µs per row copied: less sensitive to other load on the machine than rows/s. */
const perRow = (ms: number | null, rows: number) => (ms === null ? null : round((ms * 1000) / rows));

function finish(report: Report, options: Options): number {
  if (options.json) return (console.log(JSON.stringify(report, null, 2)), 0);
  const { machine, runs } = report;
  const rates = runs.map((r) => r.rowsPerSecond).sort((a, b) => a - b);
  const median = rates[Math.floor((rates.length - 1) / 2)]!;
  const rows = runs.map((r, i) => [
    i + 1,
    round(r.seconds, 2),
    r.rowsPerSecond,
    r.peakRssMiB,
    r.copyCpuMs,
    perRow(r.copyCpuMs, report.rows),
    r.postgresCpuMs,
    perRow(r.postgresCpuMs, report.rows),
    r.otherCores,
  ]);
  console.log(
    section(
      `registry copy SQLite → PostgreSQL: ${options.devices} devices + certificates + tokens, ` +
        `${options.audit} audit entries (${report.rows} rows, SQLite file ${report.sqliteMiB} MiB), page ${options.pageSize}`,
      rows,
      [
        "run",
        "seconds",
        "rows/s",
        "peak RSS MiB",
        "copy CPU ms",
        "µs/row",
        "PostgreSQL CPU ms",
        "µs/row",
        "other busy cores",
      ],
    ),
  );
  console.log(
    `median ${median} rows/s (spread ${rates[0]}–${rates[rates.length - 1]}); ` +
      `machine: ${machine.cores} × ${machine.model}, ${machine.memoryGiB} GiB, ${machine.os}, node ${machine.node}, load ${machine.loadAverage1m}`,
  );
  return 0;
}

process.exitCode = await benchMain({ name: "bench:registry-copy", usage: USAGE, parse, run, finish });
