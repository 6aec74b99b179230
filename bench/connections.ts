/**
 * `npm run bench:connections`: how many idle mTLS MQTT sessions one broker process holds, and what
 * they cost — fleetgate, then Mosquitto 2.0 at the same size on the same PKI, one at a time. Per
 * broker: time to connect the fleet (several load processes, each on its own 127.0.0.x source
 * address), broker CPU per connection, broker RSS per connection (/proc/PID/status), a fresh
 * device's connect → CONNACK latency at rest and with the fleet held; for fleetgate also the V8 heap
 * at load and revoke → socket closed with the fleet held (Mosquitto cannot kick).
 *
 *   npx tsx bench/connections.ts [--connections 100000] [--quick] [--probes 20] [--revocations 50]
 *                                [--concurrency 32] [--only fleetgate|mosquitto] [--json]
 *
 * Devices enroll once through fleetgate's JSON API (ECDSA P-256, one certificate per CN). Exit code
 * 0 when every phase completed at the requested size with no failure, 1 otherwise, 2 for bad flags.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createSecureContext } from "node:tls";
import { parseArgs } from "node:util";
import { benchMain, integerFlag } from "./lib/bench-main.js";
import { uptimeLine } from "./lib/broker-report.js";
import type { Cleanup } from "./lib/cleanup.js";
import { connectFleet, probeAdmission, revokeAtLoad, type Broker } from "./lib/connection-phases.js";
import { neededOpenFiles, planConnections, serverConfig, type ConnectionsPlan } from "./lib/connections-plan.js";
import {
  buildReport,
  humanReport,
  problemsOf,
  type BrokerConnections,
  type ConnectionsReport,
} from "./lib/connections-report.js";
import { enrollDevices, type DeviceCredential } from "./lib/device-credentials.js";
import { caBundlePem, createGroupToken, initDataDir, startServer, writeConfig } from "./lib/fleetgate.js";
import { childOpenFileLimit, describeLimits, hostLimits } from "./lib/host-limits.js";
import { LoaderFleet, type LoaderShare } from "./lib/loader-fleet.js";
import { startMosquitto } from "./lib/mosquitto.js";
import { heapOf, reportFlags, type HeapFigures } from "./lib/node-report.js";
import type { RawTarget } from "./lib/raw-mqtt.js";
import { adminClientFor } from "./lib/revoke-latency.js";
import { round } from "./lib/stats.js";

export interface Options {
  readonly connections: number;
  readonly probes: number;
  readonly revocations: number;
  readonly concurrency: number;
  readonly only: "fleetgate" | "mosquitto" | null;
  readonly json: boolean;
}

const USAGE = `usage: npx tsx bench/connections.ts [--connections N] [--quick] [--probes P] [--revocations V]
                                     [--concurrency C] [--only fleetgate|mosquitto] [--json]
  --connections N  idle mTLS sessions held by one broker process (default 100000)
  --quick          5000 connections, for trying the bench (per-connection figures then carry fixed costs)
  --probes P       fresh devices timed connect → CONNACK, at rest and with the fleet held (default 20)
  --revocations V  fleetgate revocations timed to socket close with the fleet held (default 50, 0 = none)
  --concurrency C  connects in flight per load process (default 32)
  --only B         measure one broker (no ratios)
  --json           machine-readable report on stdout (progress stays on stderr)
The broker and load processes run under ulimit -n sized for N; where the hard limit cannot be raised
(no CAP_SYS_RESOURCE) the run holds as many sessions as the limit allows and says so.`;

const PREFIX = { fleet: "conn-dev-", probe: "conn-probe-", revoked: "conn-rv-" } as const;
const KEEPALIVE_SECONDS = 3600; // fleetgate's default mqtt.keepalive.max; the load processes ping at half of it

function parseOptions(argv: readonly string[]): Options | null {
  const text = { type: "string" } as const;
  const flag = { type: "boolean", default: false } as const;
  const { values } = parseArgs({
    args: [...argv],
    options: {
      connections: text,
      quick: flag,
      probes: text,
      revocations: text,
      concurrency: text,
      only: text,
      json: flag,
      help: { ...flag, short: "h" },
    },
    strict: true,
  });
  if (values.help) return null;
  const only = values.only ?? null;
  if (only !== null && only !== "fleetgate" && only !== "mosquitto")
    throw new Error(`--only must be fleetgate or mosquitto (got ${only})`);
  if (values.quick && values.connections !== undefined) throw new Error("--quick and --connections exclude each other");
  return {
    connections: integerFlag(values.connections, "connections", values.quick ? 5000 : 100_000, 1),
    probes: integerFlag(values.probes, "probes", 20, 1),
    revocations: only === "mosquitto" ? 0 : integerFlag(values.revocations, "revocations", 50, 0),
    concurrency: integerFlag(values.concurrency, "concurrency", 32, 1),
    only,
    json: values.json ?? false,
  };
}

const note = (message: string) => console.error(`[bench] ${message}`);

interface Fixture {
  readonly shares: LoaderShare[];
  readonly probes: DeviceCredential[];
  readonly revoked: DeviceCredential[];
  readonly caPem: string;
}

async function enrollGroup(dataDir: string, port: number, prefix: string, count: number) {
  if (count === 0) return [];
  const target = {
    host: "127.0.0.1",
    port,
    secureContext: createSecureContext({ ca: caBundlePem(dataDir) }),
    timeoutMs: 30_000,
  };
  return enrollDevices(target, prefix, count, await createGroupToken(dataDir, prefix, count));
}

/** Every credential through fleetgate's enrollment API; the fleet's written one file per load process. */
async function enrollEverything(dataDir: string, plan: ConnectionsPlan, options: Options, cleanup: Cleanup) {
  const server = await startServer({ dataDir, logFile: join(dataDir, "enroll-server.log"), cleanup });
  const port = server.ports["enroll"]!;
  note(`enrolling ${plan.connections} + ${options.probes} probe + ${options.revocations} to-revoke devices (JSON API)`);
  const started = performance.now();
  const fleet = await enrollGroup(dataDir, port, PREFIX.fleet, plan.connections);
  const probes = await enrollGroup(dataDir, port, PREFIX.probe, options.probes);
  const revoked = await enrollGroup(dataDir, port, PREFIX.revoked, options.revocations);
  const enrollSeconds = (performance.now() - started) / 1000;
  note(`enrolled in ${round(enrollSeconds, 1)} s`);
  await server.stop();
  let offset = 0;
  const shares = plan.loaders.perLoader.map((count, i) => {
    const credentialsFile = join(dataDir, `fleet-${i}.jsonl`);
    const slice = fleet.slice(offset, (offset += count));
    writeFileSync(credentialsFile, slice.map((d) => JSON.stringify(d)).join("\n") + "\n");
    return { localAddress: plan.loaders.addresses[i]!, credentialsFile, devices: count };
  });
  return { fixture: { shares, probes, revoked, caPem: caBundlePem(dataDir) }, enrollSeconds };
}

function targetOf(port: number): RawTarget {
  return { host: "127.0.0.1", port, keepaliveSeconds: KEEPALIVE_SECONDS, timeoutMs: 30_000 };
}

/** Broker-specific steps: before anything connects, and with the fleet held. */
interface BrokerHooks {
  atRest?(): Promise<HeapFigures | null>;
  atLoad?(): Promise<Partial<BrokerConnections>>;
}

/** The phases every broker goes through, with the broker's own steps at rest and with the fleet held. */
async function measureBroker(
  broker: Broker,
  fixture: Fixture,
  plan: ConnectionsPlan,
  options: Options,
  cleanup: Cleanup,
  hooks: BrokerHooks = {},
): Promise<BrokerConnections> {
  const target = targetOf(broker.port);
  const heapAtRest = (await hooks.atRest?.()) ?? null;
  note(`${broker.name} pid ${broker.pid} on 127.0.0.1:${broker.port}: ${options.probes} admission probes at rest`);
  const probeAtRest = await probeAdmission(target, fixture.probes, fixture.caPem);
  const fleet = await LoaderFleet.start(fixture.shares, plan.openFileLimit, cleanup);
  try {
    const connect = { requested: plan.connections, concurrency: options.concurrency, settleMs: 5000 };
    const held = await connectFleet(broker, fleet, target, fixture.caPem, connect);
    const extra = (await hooks.atLoad?.()) ?? {};
    note(`${broker.name}: ${options.probes} admission probes with ${held.connected} sessions held`);
    const probeAtLoad = await probeAdmission(target, fixture.probes, fixture.caPem);
    return {
      name: broker.name,
      held,
      probeAtRest,
      probeAtLoad,
      heap: { atRest: heapAtRest, held: null },
      revocation: null,
      ...extra,
      dropped: fleet.droppedCount,
    };
  } finally {
    await fleet.stop();
  }
}

async function runFleetgate(
  dataDir: string,
  fixture: Fixture,
  plan: ConnectionsPlan,
  options: Options,
  cleanup: Cleanup,
) {
  const reports = join(dataDir, "reports");
  mkdirSync(reports);
  const server = await startServer({
    dataDir,
    logFile: join(dataDir, "server.log"),
    cleanup,
    readyService: "metrics",
    nodeFlags: reportFlags(reports),
    openFileLimit: plan.openFileLimit,
  });
  const broker = { name: "fleetgate", pid: server.pid, port: server.ports["mqtt"]!, cpuMs: () => server.cpuMs() };
  try {
    let atRest: HeapFigures | null = null;
    return await measureBroker(broker, fixture, plan, options, cleanup, {
      atRest: async () => (atRest = await heapOf(server.pid, reports)),
      atLoad: async () => {
        const heap = { atRest, held: await heapOf(server.pid, reports) };
        const revocation =
          fixture.revoked.length > 0
            ? await revokeAtLoad(adminClientFor(dataDir), targetOf(broker.port), fixture.revoked, fixture.caPem)
            : null;
        return { heap, revocation };
      },
    });
  } catch (error) {
    console.error(`[bench] fleetgate log ends:\n${server.logTail(15)}`);
    throw error;
  } finally {
    await server.stop();
  }
}

async function runMosquitto(
  dataDir: string,
  fixture: Fixture,
  plan: ConnectionsPlan,
  options: Options,
  cleanup: Cleanup,
) {
  const mosquitto = await startMosquitto({
    dataDir,
    workDir: dataDir,
    telemetryReaders: [],
    cleanup,
    openFileLimit: plan.openFileLimit,
  });
  const broker = { name: "mosquitto", pid: mosquitto.pid, port: mosquitto.port, cpuMs: () => mosquitto.cpuMs() };
  try {
    return await measureBroker(broker, fixture, plan, options, cleanup);
  } catch (error) {
    console.error(`[bench] mosquitto log ends:\n${mosquitto.logTail(15)}`);
    throw error;
  } finally {
    await mosquitto.stop();
  }
}

async function run(options: Options, cleanup: Cleanup): Promise<ConnectionsReport> {
  const started = performance.now();
  const uptimeStart = uptimeLine();
  const limits = hostLimits();
  note(`host limits: ${describeLimits(limits)}`);
  const extra = options.probes + options.revocations;
  const granted = childOpenFileLimit(limits, neededOpenFiles(options.connections, extra));
  const plan = planConnections(options.connections, extra, limits, granted);
  note(
    `ulimit -n ${plan.openFileLimit} for the broker and ${plan.loaders.count} load processes ` +
      `(${plan.loaders.addresses.join(", ")}; ${plan.loaders.perLoader.join(" + ")} sessions)`,
  );
  if (plan.limitedBy) note(`WARNING: ${plan.connections} of ${plan.requested} sessions: ${plan.limitedBy}`);
  const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-bench-connections-"));
  cleanup.add(() => rmSync(dataDir, { recursive: true, force: true }));
  await initDataDir(dataDir);
  writeConfig(dataDir, serverConfig(plan));
  const { fixture, enrollSeconds } = await enrollEverything(dataDir, plan, options, cleanup);
  const fleetgate = options.only === "mosquitto" ? null : await runFleetgate(dataDir, fixture, plan, options, cleanup);
  const mosquitto = options.only === "fleetgate" ? null : await runMosquitto(dataDir, fixture, plan, options, cleanup);
  const parts = {
    limits,
    plan,
    enrollSeconds,
    uptime: { start: uptimeStart, end: uptimeLine() },
    wallSeconds: (performance.now() - started) / 1000,
    fleetgate,
    mosquitto,
  };
  return buildReport({ ...parts, problems: problemsOf(parts) });
}

process.exitCode = await benchMain({
  name: "bench:connections",
  usage: USAGE,
  parse: parseOptions,
  run,
  finish(report: ConnectionsReport, options: Options) {
    console.log(options.json ? JSON.stringify(report, null, 2) : humanReport(report));
    return report.problems.length === 0 ? 0 : 1;
  },
});
