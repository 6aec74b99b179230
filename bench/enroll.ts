/**
 * `npm run bench:enroll`: enrollments per second over HTTPS, one fresh TLS connection per device
 * (as real first boots are), with p50/p95/p99 latency and the server's CPU per enrollment.
 *
 *   npx tsx bench/enroll.ts [--devices 2000] [--concurrency 32] [--method json|est|both]
 *                           [--warmup 100] [--timeout-ms 30000] [--profile DIR] [--ca-key file|pkcs11] [--json]
 *
 * `--ca-key pkcs11` measures twice, one after the other on fresh data dirs: with the issuing CA key in a
 * file, then in a SoftHSM2 token (`fleetgate init --ca-key pkcs11`, a private token dir), and reports
 * the two side by side. `--workers 1,2` measures once per worker count, on PostgreSQL and Redis (a schema
 * and a key prefix of the run's own): `fleetgate serve --workers N`, the server's CPU summed over the
 * primary and every worker from /proc, and reports the counts side by side.
 *
 * A fresh data dir is made with the real CLI (`fleetgate init`, `fleetgate token create`), its
 * enroll rate limits are raised so they never bind, and `fleetgate serve` runs as a separate
 * process so its CPU time is measured on its own (/proc/PID/stat). Keys and CSRs are made before
 * the clock starts. Exit code: 0 when every enrollment succeeded (targets met or not: this is a
 * report), 1 when any failed or the run broke, 2 for bad flags.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { createSecureContext } from "node:tls";
import { parseArgs } from "node:util";
import { benchMain, integerFlag } from "./lib/bench-main.js";
import type { Cleanup } from "./lib/cleanup.js";
import { newestProfile, summarizeProfile } from "./lib/cpuprofile.js";
import { deviceCsrs, deviceIds, type DeviceCsr } from "./lib/csr.js";
import { enroll, type EnrollMethod, type EnrollOutcome, type EnrollTarget } from "./lib/enroll-client.js";
import {
  caBundlePem,
  createGroupToken,
  initDataDir,
  runCli,
  startServer,
  unlimitedEnrollConfig,
  writeConfig,
  type FleetgateServer,
} from "./lib/fleetgate.js";
import {
  buildReport,
  compareKeys,
  comparisonText,
  humanReport,
  type Measurement,
  type Report,
} from "./lib/enroll-report.js";
import { createSoftHsm } from "../test/helpers/softhsm.js";
import { runPool } from "./lib/pool.js";
import { selfCpuMs, systemCpu, type SystemCpu } from "./lib/proc-cpu.js";
import { round } from "./lib/stats.js";
import { clusterBackend, type ClusterBackend } from "./lib/cluster-backend.js";
import { compareWorkers, workersComparisonText } from "./lib/workers-report.js";

const PREFIX = "bench-";
const WARMUP_PREFIX = "bench-warmup-";

interface Options {
  readonly devices: number;
  readonly concurrency: number;
  readonly method: EnrollMethod | "both";
  readonly warmup: number;
  readonly timeoutMs: number;
  readonly profileDir: string | null;
  readonly caKey: "file" | "pkcs11";
  /** `--workers 1,2`: one cluster-mode run per count; null = the embedded SQLite server. */
  readonly workers: readonly number[] | null;
  readonly json: boolean;
}

const USAGE = `usage: npx tsx bench/enroll.ts [--devices N] [--concurrency C] [--method json|est|both]
                                [--warmup W] [--timeout-ms T] [--profile DIR] [--json]
  --devices N      enrollments in the timed phase (default 2000, at least 1)
  --concurrency C  enrollments in flight at once (default 32)
  --method M       json (/v1/enroll), est (simpleenroll) or both, alternating (default both)
  --warmup W       untimed enrollments first, with their own token and devices (default 100, 0 = none)
  --timeout-ms T   per-request timeout (default 30000)
  --profile DIR    run the server under node --cpu-prof, keep the profile in DIR, summarize it
  --ca-key K       file (default), or pkcs11: measure with the CA key in a file, then in SoftHSM2, side by side
  --workers LIST   e.g. 1,2: serve --workers N on PostgreSQL + Redis, once per count, side by side
  --json           machine-readable report on stdout (progress stays on stderr)`;

/** The options, or null when help was asked for; throws on bad flags. */
function parseOptions(argv: readonly string[]): Options | null {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      devices: { type: "string" },
      concurrency: { type: "string" },
      method: { type: "string" },
      warmup: { type: "string" },
      "timeout-ms": { type: "string" },
      profile: { type: "string" },
      "ca-key": { type: "string" },
      workers: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) return null;
  const method = values.method ?? "both";
  if (method !== "json" && method !== "est" && method !== "both")
    throw new Error(`--method must be json, est or both (got ${method})`);
  const caKey = values["ca-key"] ?? "file";
  if (caKey !== "file" && caKey !== "pkcs11") throw new Error(`--ca-key must be file or pkcs11 (got ${caKey})`);
  return {
    devices: integerFlag(values.devices, "devices", 2000, 1),
    concurrency: integerFlag(values.concurrency, "concurrency", 32, 1),
    method,
    warmup: integerFlag(values.warmup, "warmup", 100, 0),
    timeoutMs: integerFlag(values["timeout-ms"], "timeout-ms", 30_000, 1),
    profileDir: values.profile ? resolve(values.profile) : null,
    caKey,
    workers: values.workers === undefined ? null : workerCounts(values.workers),
    json: values.json ?? false,
  };
}

function workerCounts(raw: string): number[] {
  const counts = raw.split(",").map((part) => integerFlag(part.trim(), "workers", 1, 1));
  if (counts.length === 0) throw new Error("--workers needs at least one count");
  return counts;
}

/** Progress goes to stderr so that `--json` leaves stdout to the report alone. */
function note(message: string): void {
  console.error(`[bench] ${message}`);
}

function methodFor(options: Options, index: number): EnrollMethod {
  if (options.method !== "both") return options.method;
  return index % 2 === 0 ? "json" : "est";
}

interface Setup {
  readonly dataDir: string;
  readonly token: string;
  readonly warmupToken: string | null;
  readonly devices: DeviceCsr[];
  readonly warmupDevices: DeviceCsr[];
  readonly csrSeconds: number;
}

const PKCS11_PIN = "bench-pin";

/** A private SoftHSM2 token (as the tests make one) and the data dir's pkcs11 configuration, before init. */
function useSoftHsm(dataDir: string, cleanup: Cleanup): void {
  const hsm = createSoftHsm(); // sets SOFTHSM2_CONF, which the CLI and the server inherit
  cleanup.add(() => hsm.remove());
  hsm.initToken("fleetgate-bench", { pin: PKCS11_PIN });
  process.env.FLEETGATE_PKCS11_PIN = PKCS11_PIN;
  writeConfig(dataDir, {
    pkcs11: { module: hsm.module, token: "fleetgate-bench", keyLabel: "bench-issuing" },
    ca: { key: "pkcs11" },
  });
  note(`issuing CA key in SoftHSM2 (${hsm.module}, token dir ${hsm.dir})`);
}

async function makeDataDir(cleanup: Cleanup, caKey: "file" | "pkcs11", backend?: ClusterBackend): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-bench-"));
  cleanup.add(() => rmSync(dataDir, { recursive: true, force: true }));
  if (caKey === "pkcs11") useSoftHsm(dataDir, cleanup);
  note(`data dir ${dataDir}: fleetgate init${caKey === "pkcs11" ? " --ca-key pkcs11" : ""}`);
  if (backend === undefined) await initDataDir(dataDir);
  else await runCli(["init", "--data", dataDir, "--registry", backend.registry]);
  writeConfig(dataDir, unlimitedEnrollConfig());
  note("enroll rate limits raised for the benchmark (perAddress and perToken: 1e6/s, burst 1e6)");
  return dataDir;
}

/** Tokens (through the CLI, which talks to the running server) and every key + CSR, before any timing. */
async function prepare(dataDir: string, options: Options): Promise<Setup> {
  const token = await createGroupToken(dataDir, PREFIX, options.devices);
  const warmupToken = options.warmup > 0 ? await createGroupToken(dataDir, WARMUP_PREFIX, options.warmup) : null;
  note(`pre-generating ${options.devices + options.warmup} ECDSA P-256 keys + CSRs (not timed)`);
  const started = performance.now();
  const devices = await deviceCsrs(deviceIds(PREFIX, options.devices));
  const warmupDevices = await deviceCsrs(deviceIds(WARMUP_PREFIX, options.warmup));
  return { dataDir, token, warmupToken, devices, warmupDevices, csrSeconds: (performance.now() - started) / 1000 };
}

function enrollAll(
  target: EnrollTarget,
  devices: readonly DeviceCsr[],
  token: string,
  options: Options,
): Promise<EnrollOutcome[]> {
  return runPool(devices.length, options.concurrency, (i) => enroll(target, devices[i]!, methodFor(options, i), token));
}

function systemDelta(before: SystemCpu | null, after: SystemCpu | null): SystemCpu | null {
  return before && after ? { busyMs: after.busyMs - before.busyMs, iowaitMs: after.iowaitMs - before.iowaitMs } : null;
}

/** The timed phase: only the N enrollments, with the server's and this process's CPU around it. */
async function measure(
  target: EnrollTarget,
  server: FleetgateServer,
  setup: Setup,
  options: Options,
): Promise<Measurement> {
  const serverBefore = server.cpuMs();
  const systemBefore = systemCpu();
  const clientBefore = selfCpuMs();
  const started = performance.now();
  const outcomes = await enrollAll(target, setup.devices, setup.token, options);
  const wallSeconds = (performance.now() - started) / 1000;
  const clientCpuMs = selfCpuMs() - clientBefore;
  const serverAfter = server.cpuMs();
  const system = systemDelta(systemBefore, systemCpu());
  const serverCpuMs = serverBefore === null || serverAfter === null ? null : serverAfter - serverBefore;
  return { outcomes, wallSeconds, serverCpuMs, clientCpuMs, system };
}

async function warmUp(target: EnrollTarget, setup: Setup, options: Options): Promise<void> {
  if (!setup.warmupToken || setup.warmupDevices.length === 0) return;
  note(`warm-up: ${setup.warmupDevices.length} enrollments (not timed, separate token and devices)`);
  const outcomes = await enrollAll(target, setup.warmupDevices, setup.warmupToken, options);
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length > 0) throw new Error(`warm-up: ${failed.length} enrollments failed, first: ${failed[0]!.error}`);
}

/** After the clock stops: the registry must hold exactly the devices that got a certificate. */
async function registryCount(dataDir: string): Promise<number> {
  const devices = JSON.parse(await runCli(["device", "list", "--json", "--data", dataDir])) as { id: string }[];
  return devices.filter((d) => d.id.startsWith(PREFIX) && !d.id.startsWith(WARMUP_PREFIX)).length;
}

function serverFlags(options: Options): string[] {
  if (!options.profileDir) return [];
  mkdirSync(options.profileDir, { recursive: true });
  return ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`];
}

function describeExit(server: FleetgateServer): string {
  const { exitCode, signalCode } = server.process;
  return exitCode === null && signalCode === null ? "still running" : `exited (code ${exitCode}, signal ${signalCode})`;
}

async function runOnce(
  options: Options,
  cleanup: Cleanup,
  caKey: "file" | "pkcs11",
  workers?: number,
): Promise<Report> {
  const backend = workers === undefined ? undefined : clusterBackend(cleanup);
  const dataDir = await makeDataDir(cleanup, caKey, backend);
  const server = await startServer({
    dataDir,
    logFile: join(dataDir, "server.log"),
    cleanup,
    nodeFlags: serverFlags(options),
    ...(backend && workers ? { serveArgs: backend.serveArgs(workers), env: backend.env, workers } : {}),
  });
  const where = backend ? `, serve --workers ${workers} on PostgreSQL + Redis (prefix ${backend.keyPrefix})` : "";
  note(`server pid ${server.pid} listening on 127.0.0.1:${server.ports["enroll"]}${where}`);
  const setup = await prepare(dataDir, options);
  const target: EnrollTarget = {
    host: "127.0.0.1",
    port: server.ports["enroll"]!,
    secureContext: createSecureContext({ ca: caBundlePem(dataDir) }),
    timeoutMs: options.timeoutMs,
  };
  await warmUp(target, setup, options);
  note(`timed phase: ${options.devices} enrollments, concurrency ${options.concurrency}, method ${options.method}`);
  const measurement = await measure(target, server, setup, options);
  if (measurement.outcomes.some((o) => !o.ok))
    console.error(`[bench] failures; server ${describeExit(server)}; its log ends:\n${server.logTail(15)}`);
  const registered = await registryCount(dataDir);
  await server.stop();
  const { devices, concurrency, method, warmup } = options;
  const runInfo = {
    devices,
    concurrency,
    method,
    warmup,
    rateLimitsRaised: true,
    csrPregenerationSeconds: round(setup.csrSeconds, 2),
    caKey,
    ...(workers === undefined ? {} : { workers }),
  } as const;
  const report = buildReport(runInfo, measurement, registered);
  const profile = options.profileDir ? newestProfile(options.profileDir, server.pid) : null;
  if (profile) report.profile = summarizeProfile(profile, 20);
  return report;
}

type Outcome = Report | { readonly file: Report; readonly pkcs11: Report } | { readonly byWorkers: Report[] };

/** One run with the file key; with --ca-key pkcs11 a second with SoftHSM2, each on its own data dir and server. */
async function run(options: Options, cleanup: Cleanup): Promise<Outcome> {
  if (options.workers !== null) {
    const byWorkers: Report[] = [];
    for (const count of options.workers) byWorkers.push(await runOnce(options, cleanup, "file", count));
    return { byWorkers };
  }
  const file = await runOnce(options, cleanup, "file");
  if (options.caKey === "file") return file;
  note("second run: the same enrollments with the issuing CA key in SoftHSM2");
  return { file, pkcs11: await runOnce(options, cleanup, "pkcs11") };
}

function complete(report: Report): boolean {
  const { ok, registeredDevices } = report.results;
  if (registeredDevices !== ok)
    console.error(
      `bench:enroll: the registry holds ${String(registeredDevices)} bench devices, expected ${String(ok)}`,
    );
  return report.failures.count === 0 && registeredDevices === ok;
}

/** Prints the report; 0 when every enrollment succeeded and the registry agrees, else 1. */
function finish(outcome: Outcome, options: Options): number {
  if ("results" in outcome) {
    console.log(options.json ? JSON.stringify(outcome, null, 2) : humanReport(outcome));
    return complete(outcome) ? 0 : 1;
  }
  if ("byWorkers" in outcome) {
    const comparison = compareWorkers(outcome.byWorkers);
    if (options.json) console.log(JSON.stringify({ ...outcome, comparison }, null, 2));
    else console.log(`${humanReport(outcome.byWorkers.at(-1)!)}\n\n${workersComparisonText(comparison)}`);
    return outcome.byWorkers.every(complete) ? 0 : 1;
  }
  const comparison = compareKeys(outcome.file, outcome.pkcs11);
  if (options.json) console.log(JSON.stringify({ ...outcome, comparison }, null, 2));
  else console.log(`${humanReport(outcome.pkcs11)}\n\n${comparisonText(comparison)}`);
  return complete(outcome.file) && complete(outcome.pkcs11) ? 0 : 1;
}

process.exitCode = await benchMain({ name: "bench:enroll", usage: USAGE, parse: parseOptions, run, finish });
