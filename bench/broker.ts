/**
 * `npm run bench:broker`: fleetgate's MQTT gateway against Mosquitto 2.0 on the same PKI, driven by
 * the same MQTT.js load, one broker at a time (the other stopped). Per broker, from its own
 * /proc/PID: CPU per mTLS handshake (fresh and disconnecting, resumed from the previous connection's
 * session ticket, fresh and accumulating), CPU per QoS 1 message with every device connected, RSS per
 * idle connection; for fleetgate also revoke → socket closed latency (Mosquitto cannot kick).
 *
 *   npx tsx bench/broker.ts [--devices 5000] [--handshakes 2000] [--messages 50000] [--rate 2000]
 *                           [--revocations 100] [--concurrency 32] [--accumulate 1000]
 *                           [--accumulate-concurrency 50] [--only fleetgate|mosquitto]
 *                           [--profile DIR] [--json]
 *
 * Devices enroll once through fleetgate's JSON API (ECDSA P-256, one certificate per CN). Each
 * broker is then started three times: once for the fresh and resumed handshakes, once for the
 * accumulating handshakes, once for idle RSS + QoS 1 (+ revocation), so no phase pays for another's
 * garbage or inherits its heap.
 * `--workers N` runs fleetgate as `serve --workers N` on PostgreSQL and Redis (a schema and a key prefix of
 * the run's own; devices enroll through it too), its CPU and RSS summed over the primary and every worker.
 * Exit code: 0 when every phase
 * completed and every message was delivered (targets met or not: this is a report), 1 otherwise,
 * 2 for bad flags.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createSecureContext } from "node:tls";
import {
  accumulatePhase,
  handshakePhase,
  loadPhases,
  type BrokerFigures,
  type Fixture,
  type MeasuredBroker,
} from "./lib/broker-phases.js";
import { buildReport, humanReport, revocationSummary, uptimeLine, type BrokerReport } from "./lib/broker-report.js";
import { benchMain } from "./lib/bench-main.js";
import { parseOptions, USAGE, type Options } from "./lib/broker-options.js";
import type { Cleanup } from "./lib/cleanup.js";
import { newestProfile, summarizeProfile } from "./lib/cpuprofile.js";
import { enrollDevices, type DeviceCredential } from "./lib/device-credentials.js";
import { startChildServer } from "./lib/child-server.js";
import {
  REPO_ROOT,
  caBundlePem,
  createGroupToken,
  initDataDir,
  runCli,
  startServer,
  unlimitedEnrollConfig,
  writeConfig,
} from "./lib/fleetgate.js";
import { clusterBackend, type ClusterBackend } from "./lib/cluster-backend.js";
import { startMosquitto } from "./lib/mosquitto.js";
import { closeAll, connectAll } from "./lib/mqtt-load.js";
import { adminClientFor, revokeLatencies } from "./lib/revoke-latency.js";
import { round } from "./lib/stats.js";
import { section } from "./lib/table.js";

const PREFIX = { devices: "bench-dev-", revoked: "bench-rv-", service: "bench-svc-" } as const;

const note = (message: string) => console.error(`[bench] ${message}`);

/** Limits raised so they never bind: connect rate from one address, publish rate, connection cap. */
function benchConfig(options: Options): Record<string, unknown> {
  const unlimited = { perSecond: 1_000_000, burst: 1_000_000 };
  const maxConnections = Math.max(
    6000,
    options.devices + options.revocations + 2 * options.concurrency + options.accumulateConcurrency + 10,
  );
  return {
    ...unlimitedEnrollConfig(),
    mqtt: { host: "127.0.0.1", port: 0, maxConnections, connectRatePerAddress: unlimited, publishRate: unlimited },
  };
}

interface Credentials extends Fixture {
  readonly revoked: readonly DeviceCredential[];
}

/** Every credential, through fleetgate's real enrollment API; the server is stopped afterwards. */
async function enrollEverything(
  dataDir: string,
  options: Options,
  cleanup: Cleanup,
  backend: ClusterBackend | null,
): Promise<Credentials> {
  const logFile = join(dataDir, "enroll-server.log");
  const server = await startServer({ dataDir, logFile, cleanup, ...clusterStart(options, backend) });
  const target = {
    host: "127.0.0.1",
    port: server.ports["enroll"]!,
    secureContext: createSecureContext({ ca: caBundlePem(dataDir) }),
    timeoutMs: 30_000,
  };
  const devicesToken = await createGroupToken(dataDir, PREFIX.devices, options.devices);
  const serviceToken = await createGroupToken(dataDir, PREFIX.service, 1, "1h", "service");
  const revocations = options.only === "mosquitto" ? 0 : options.revocations;
  note(
    `enrolling ${options.devices} devices + ${revocations} to revoke + 1 service subscriber (ECDSA P-256, JSON API)`,
  );
  const started = performance.now();
  const devices = await enrollDevices(target, PREFIX.devices, options.devices, devicesToken);
  const [subscriber] = await enrollDevices(target, PREFIX.service, 1, serviceToken);
  const revoked =
    revocations > 0
      ? await enrollDevices(
          target,
          PREFIX.revoked,
          revocations,
          await createGroupToken(dataDir, PREFIX.revoked, revocations),
        )
      : [];
  note(`enrolled in ${round((performance.now() - started) / 1000, 1)} s`);
  await server.stop();
  return { devices, subscriber: subscriber!, revoked, caPem: caBundlePem(dataDir) };
}

function profileFlags(options: Options): string[] {
  if (!options.profileDir) return [];
  mkdirSync(options.profileDir, { recursive: true });
  return ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`];
}

/** A broker process under measurement; started twice per broker (see broker-phases.ts). */
interface StartedBroker extends MeasuredBroker {
  stop(): Promise<void>;
  logTail(lines?: number): string;
}

async function withBroker<T>(
  start: () => Promise<StartedBroker>,
  work: (broker: StartedBroker) => Promise<T>,
): Promise<T> {
  const broker = await start();
  note(`${broker.name} pid ${broker.pid} on 127.0.0.1:${broker.port}`);
  try {
    return await work(broker);
  } catch (error) {
    console.error(`[bench] ${broker.name} log ends:\n${broker.logTail(15)}`);
    throw error;
  } finally {
    await broker.stop();
  }
}

/** Handshakes on one fresh process, accumulating ones on a second, idle RSS, QoS 1 and then `more` on a third. */
async function measure<T>(
  start: () => Promise<StartedBroker>,
  creds: Credentials,
  options: Options,
  more: (broker: StartedBroker) => Promise<T>,
) {
  const handshakes = await withBroker(start, (broker) => handshakePhase(broker, creds, options));
  const accumulated =
    options.accumulate > 0 ? await withBroker(start, (b) => accumulatePhase(b, creds, options)) : null;
  return withBroker(start, async (broker) => {
    const figures: BrokerFigures = { ...handshakes, accumulated, ...(await loadPhases(broker, creds, options)) };
    return { figures, more: await more(broker) };
  });
}

async function revocationPhase(
  broker: StartedBroker,
  dataDir: string,
  creds: Credentials,
  options: Options,
): Promise<BrokerReport["revocation"]> {
  if (creds.revoked.length === 0) return null;
  const target = {
    host: "127.0.0.1",
    port: broker.port,
    caPem: creds.caPem,
    keepaliveSeconds: 1800,
    timeoutMs: options.timeoutMs,
  };
  const clients = await connectAll(target, creds.revoked, options.concurrency);
  note(`fleetgate: ${clients.length} revocations through the admin API, one at a time, timed to socket close`);
  try {
    const result = await revokeLatencies(adminClientFor(dataDir), clients);
    return revocationSummary(result.latenciesMs, result.notClosed);
  } finally {
    await closeAll(clients);
  }
}

/** startServer's options for `--workers N`: the flags, the key prefix, the worker count. */
function clusterStart(options: Options, backend: ClusterBackend | null) {
  if (backend === null || options.workers === null) return {};
  return { serveArgs: backend.serveArgs(options.workers), env: backend.env, workers: options.workers };
}

async function runFleetgate(
  dataDir: string,
  creds: Credentials,
  options: Options,
  cleanup: Cleanup,
  backend: ClusterBackend | null,
) {
  const pids: number[] = [];
  const start = async (): Promise<StartedBroker> => {
    // One log per start: readiness and ports are read from the log, which must not be a previous run's.
    const logFile = join(dataDir, `server-${pids.length + 1}.log`);
    const server = await startServer({
      dataDir,
      logFile,
      cleanup,
      nodeFlags: profileFlags(options),
      readyService: "metrics",
      ...clusterStart(options, backend),
    });
    pids.push(server.pid);
    return {
      name: "fleetgate",
      pid: server.pid,
      port: server.ports["mqtt"]!,
      cpuMs: () => server.cpuMs(),
      rssKiB: () => server.rssKiB(),
      stop: () => server.stop(),
      logTail: (n) => server.logTail(n),
    };
  };
  const { figures, more: revocation } = await measure(start, creds, options, (broker) =>
    revocationPhase(broker, dataDir, creds, options),
  );
  for (const pid of options.profileDir ? pids : []) {
    const profile = newestProfile(options.profileDir!, pid);
    if (profile) printProfile(profile);
  }
  return { figures, revocation };
}

function printProfile(file: string): void {
  const p = summarizeProfile(file, 25);
  const rows = (list: typeof p.topFunctions) =>
    list.map((f) => [`${round(f.percent, 1)}%`, `${round(f.ms, 0)} ms`, f.name]);
  console.error(
    [
      `fleetgate CPU profile ${file}`,
      section("self time by area", rows(p.byArea)),
      section("top self time", rows(p.topFunctions)),
      section("project, inclusive", rows(p.projectInclusive)),
    ].join("\n\n"),
  );
}

/** The handshake phase on Node's TLS alone and on a default Aedes (bench/lib/floor-server.ts). */
async function runFloor(dataDir: string, creds: Credentials, options: Options, cleanup: Cleanup) {
  const start = (mode: "tls" | "aedes") => async (): Promise<StartedBroker> => {
    const logFile = join(dataDir, `floor-${mode}.log`);
    const server = await startChildServer({
      nodeArgs: ["--import", "tsx", join(REPO_ROOT, "bench/lib/floor-server.ts"), mode, dataDir],
      cwd: REPO_ROOT,
      logFile,
      ready: (line) => line["service"] === "floor",
      cleanup,
    });
    const port = server.readyLine["port"] as number;
    const name = `node ${mode}`;
    return {
      name,
      pid: server.pid,
      port,
      cpuMs: () => server.cpuMs(),
      stop: () => server.stop(),
      logTail: (n) => server.logTail(n),
    };
  };
  return {
    tls: await withBroker(start("tls"), (broker) => handshakePhase(broker, creds, options)),
    aedes: await withBroker(start("aedes"), (broker) => handshakePhase(broker, creds, options)),
  };
}

async function runMosquitto(
  dataDir: string,
  creds: Credentials,
  options: Options,
  cleanup: Cleanup,
): Promise<BrokerFigures> {
  const start = async (): Promise<StartedBroker> => {
    const mosquitto = await startMosquitto({
      dataDir,
      workDir: dataDir,
      telemetryReaders: [creds.subscriber.id],
      cleanup,
    });
    return {
      name: "mosquitto",
      pid: mosquitto.pid,
      port: mosquitto.port,
      cpuMs: () => mosquitto.cpuMs(),
      stop: () => mosquitto.stop(),
      logTail: (n) => mosquitto.logTail(n),
    };
  };
  return (await measure(start, creds, options, async () => null)).figures;
}

function problemsOf(
  report: Omit<BrokerReport, "machine" | "ratios" | "tlsRatios" | "problems">,
  options: Options,
): string[] {
  const problems: string[] = [];
  for (const [name, f] of [
    ["fleetgate", report.fleetgate],
    ["mosquitto", report.mosquitto],
  ] as const) {
    if (f && (f.messages.delivered < options.messages || f.messages.acked < options.messages))
      problems.push(`${name}: ${f.messages.delivered}/${options.messages} delivered, ${f.messages.acked} acked`);
  }
  for (const [name, f] of [
    ["fleetgate", report.fleetgate],
    ["mosquitto", report.mosquitto],
  ] as const) {
    const r = f?.resumedHandshake;
    if (r && r.resumed < r.count)
      problems.push(`${name}: only ${r.resumed}/${r.count} reconnects resumed their session`);
  }
  if (report.revocation && report.revocation.notClosed > 0)
    problems.push(`fleetgate: ${report.revocation.notClosed} revoked devices still connected after 10 s`);
  return problems;
}

async function run(options: Options, cleanup: Cleanup): Promise<BrokerReport> {
  const started = performance.now();
  const uptimeStart = uptimeLine();
  const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-bench-broker-"));
  cleanup.add(() => rmSync(dataDir, { recursive: true, force: true }));
  note(`data dir ${dataDir}: fleetgate init; rate limits raised for the benchmark`);
  const backend = options.workers === null ? null : clusterBackend(cleanup);
  if (backend === null) await initDataDir(dataDir);
  else await runCli(["init", "--data", dataDir, "--registry", backend.registry]);
  if (backend)
    note(`fleetgate: serve --workers ${options.workers} on PostgreSQL + Redis (prefix ${backend.keyPrefix})`);
  writeConfig(dataDir, benchConfig(options));
  const creds = await enrollEverything(dataDir, options, cleanup, backend);
  const fg = options.only === "mosquitto" ? null : await runFleetgate(dataDir, creds, options, cleanup, backend);
  const mosquitto = options.only === "fleetgate" ? null : await runMosquitto(dataDir, creds, options, cleanup);
  const floor = options.floor ? await runFloor(dataDir, creds, options, cleanup) : null;
  const run = {
    devices: options.devices,
    handshakes: options.handshakes,
    messages: options.messages,
    ratePerSecond: options.rate,
    revocations: creds.revoked.length,
    concurrency: options.concurrency,
    ...(options.workers === null ? {} : { workers: options.workers }),
    accumulate: options.accumulate,
    accumulateConcurrency: options.accumulateConcurrency,
    warmup: options.warmupHandshakes,
  };
  const parts = {
    uptime: { start: uptimeStart, end: uptimeLine() },
    run,
    wallSeconds: (performance.now() - started) / 1000,
    fleetgate: fg?.figures ?? null,
    mosquitto,
    revocation: fg?.revocation ?? null,
    floor,
  };
  return buildReport({ ...parts, problems: problemsOf(parts, options) });
}

process.exitCode = await benchMain({
  name: "bench:broker",
  usage: USAGE,
  parse: parseOptions,
  run,
  finish(report: BrokerReport, options: Options) {
    console.log(options.json ? JSON.stringify(report, null, 2) : humanReport(report));
    return report.problems.length === 0 ? 0 : 1;
  },
});
