/**
 * `npm run bench:cluster`: three `fleetgate serve` nodes on this machine (one data dir, a fresh
 * PostgreSQL schema, a private Redis key prefix), measured against a single node on the same machine:
 *
 *   - revoke → socket closed across nodes: devices on nodes 2 and 3, revoked through node 1's admin API;
 *   - publish → delivery latency, a subscriber on the publisher's node and one on another node;
 *   - broker CPU per QoS 1 message (every fleetgate process summed, /proc), cluster vs one node on
 *     PostgreSQL without Redis and one node on SQLite, the same load;
 *   - failover: devices with persistent sessions on node 2, `kill -9` node 2, time until they are back
 *     online on nodes 1 and 3 (CONNACK at the device, and `device list --online`).
 *
 * Each run starts fresh processes (and, for the cluster, a fresh Redis key prefix); `--runs N` repeats
 * the whole set and reports the median and the range. Exit 0 when every phase completed (targets met
 * or not: this is a report), 1 otherwise, 2 for bad flags.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { createSecureContext } from "node:tls";
import { parseArgs } from "node:util";
import { benchMain, integerFlag } from "./lib/bench-main.js";
import { uptimeLine } from "./lib/broker-report.js";
import type { Cleanup } from "./lib/cleanup.js";
import {
  benchSchema,
  cleanRedisPrefix,
  enginesUnavailable,
  randomSuffix,
  startNode,
  type BenchNode,
} from "./lib/cluster-nodes.js";
import { failoverPhase, revokePhase } from "./lib/cluster-failures.js";
import { latencyPhase, messageCpuPhase, note, targetOf } from "./lib/cluster-phases.js";
import {
  humanReport,
  problemsOf,
  summarizeRuns,
  type ClusterReport,
  type RunFigures,
  type SingleFigures,
} from "./lib/cluster-report.js";
import { newestProfile } from "./lib/cpuprofile.js";
import { profileDiff } from "./lib/profile-diff.js";
import { enrollDevices, type DeviceCredential } from "./lib/device-credentials.js";
import {
  caBundlePem,
  createGroupToken,
  initDataDir,
  runCli,
  unlimitedEnrollConfig,
  writeConfig,
} from "./lib/fleetgate.js";
import { machineInfo } from "./lib/machine.js";
import { closeAll, connectAll } from "./lib/mqtt-load.js";
import { round } from "./lib/stats.js";

export interface Options {
  readonly devices: number;
  readonly messages: number;
  readonly rate: number;
  readonly revocations: number;
  readonly failover: number;
  readonly samples: number;
  readonly intervalMs: number;
  readonly reconnectMs: number;
  readonly concurrency: number;
  readonly runs: number;
  readonly sqlite: boolean;
  readonly profileDir: string | null;
  /** Only the CPU phase (implied by --profile: a kill -9 writes no profile). */
  readonly cpuOnly: boolean;
  readonly json: boolean;
}

const USAGE = `usage: npm run bench:cluster -- [--devices N] [--messages M] [--rate R] [--revocations V] [--failover D]
                               [--samples S] [--interval-ms I] [--reconnect-ms P] [--concurrency C]
                               [--runs N] [--no-sqlite] [--cpu-only] [--quick] [--profile DIR] [--json]
  --devices N       devices connected to node 1 for the QoS 1 CPU phase (default 1000)
  --messages M      QoS 1 messages in that phase, all to one subscriber on node 2 (default 20000)
  --rate R          their total publish rate, per second (default 1000)
  --revocations V   devices on nodes 2/3 revoked one at a time through node 1 (default 100)
  --failover D      persistent-session devices on node 2 when it is killed (default 200)
  --samples S       publish → delivery latency samples, one every I ms (default 500, I = 10)
  --reconnect-ms P  the failover devices' reconnect delay (MQTT.js reconnectPeriod, default 1000)
  --concurrency C   connections opened at once by the load generator (default 32)
  --runs N          repeat everything N times on fresh processes; the report gives median and range
  --no-sqlite       skip the single node on SQLite (the single node on PostgreSQL always runs)
  --cpu-only        only the QoS 1 CPU phase (no latency, revocation or failover)
  --quick           a scaled-down try (100 devices, 2000 messages, 20 revocations, 30 failover devices)
  --profile DIR     nodes under node --cpu-prof into DIR; only the CPU phase runs (kill -9 writes no profile)
  --json            machine-readable report on stdout (progress stays on stderr)
Needs PostgreSQL (FLEETGATE_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test) and Redis
(FLEETGATE_BENCH_REDIS_URL, default redis://127.0.0.1:6379).`;

function parseOptions(argv: readonly string[]): Options | null {
  const text = { type: "string" } as const;
  const flag = { type: "boolean", default: false } as const;
  const { values: v } = parseArgs({
    args: [...argv],
    options: {
      devices: text,
      messages: text,
      rate: text,
      revocations: text,
      failover: text,
      samples: text,
      "interval-ms": text,
      "reconnect-ms": text,
      concurrency: text,
      runs: text,
      profile: text,
      "no-sqlite": flag,
      "cpu-only": flag,
      quick: flag,
      json: flag,
      help: { ...flag, short: "h" },
    },
    strict: true,
  });
  if (v.help) return null;
  const q = v.quick === true;
  return {
    devices: integerFlag(v.devices, "devices", q ? 100 : 1000, 1),
    messages: integerFlag(v.messages, "messages", q ? 2000 : 20_000, 1),
    rate: integerFlag(v.rate, "rate", 1000, 1),
    revocations: integerFlag(v.revocations, "revocations", q ? 20 : 100, 1),
    failover: integerFlag(v.failover, "failover", q ? 30 : 200, 1),
    samples: integerFlag(v.samples, "samples", q ? 100 : 500, 1),
    intervalMs: integerFlag(v["interval-ms"], "interval-ms", 10, 1),
    reconnectMs: integerFlag(v["reconnect-ms"], "reconnect-ms", 1000, 0),
    concurrency: integerFlag(v.concurrency, "concurrency", 32, 1),
    runs: integerFlag(v.runs, "runs", 1, 1),
    sqlite: v["no-sqlite"] !== true,
    profileDir: v.profile ? resolve(v.profile) : null,
    cpuOnly: v["cpu-only"] === true || v.profile !== undefined,
    json: v.json === true,
  };
}

const PREFIX = {
  load: "bc-load-",
  service: "bc-svc-",
  publisher: "bc-pub-",
  failover: "bc-fo-",
  revoked: (run: number) => `bc-rv${run}-`,
} as const;

interface Fixture {
  readonly load: readonly DeviceCredential[];
  /** Two service identities: the subscriber on the publisher's node and the one on another node. */
  readonly services: readonly [DeviceCredential, DeviceCredential];
  readonly publisher: DeviceCredential;
  readonly failover: readonly DeviceCredential[];
  readonly revoked: readonly (readonly DeviceCredential[])[];
  readonly caPem: string;
}

/** Limits raised so they never bind (they are per node): connect rate, publish rate, connection cap. */
function benchConfig(options: Options, registry?: string): Record<string, unknown> {
  const unlimited = { perSecond: 1_000_000, burst: 1_000_000 };
  const maxConnections = Math.max(6000, options.devices + options.failover + options.revocations + 100);
  return {
    ...unlimitedEnrollConfig(),
    ...(registry ? { registry } : {}),
    mqtt: { host: "127.0.0.1", port: 0, maxConnections, connectRatePerAddress: unlimited, publishRate: unlimited },
  };
}

async function enrollGroup(dataDir: string, port: number, prefix: string, count: number, profile = "device") {
  if (count === 0) return [];
  const token = await createGroupToken(dataDir, prefix, count, "1h", profile);
  const target = {
    host: "127.0.0.1",
    port,
    secureContext: createSecureContext({ ca: caBundlePem(dataDir) }),
    timeoutMs: 30_000,
  };
  return enrollDevices(target, prefix, count, token);
}

/** `init` and every credential through the real enrollment API of a node on that data dir (then stopped). */
async function prepare(dataDir: string, options: Options, cleanup: Cleanup, full: boolean): Promise<Fixture> {
  const node = await startNode({ dataDir, cleanup, logName: "enroll" });
  const port = node.server.ports["enroll"]!;
  const started = performance.now();
  try {
    const load = await enrollGroup(dataDir, port, PREFIX.load, options.devices);
    const [a, b] = await enrollGroup(dataDir, port, PREFIX.service, 2, "service");
    const [publisher] = await enrollGroup(dataDir, port, PREFIX.publisher, 1);
    const failover = full ? await enrollGroup(dataDir, port, PREFIX.failover, options.failover) : [];
    const revoked: DeviceCredential[][] = [];
    for (let run = 1; full && run <= options.runs; run++)
      revoked.push(await enrollGroup(dataDir, port, PREFIX.revoked(run), options.revocations));
    note(`enrolled ${dataDir} in ${round((performance.now() - started) / 1000, 1)} s`);
    return { load, services: [a!, b!], publisher: publisher!, failover, revoked, caPem: caBundlePem(dataDir) };
  } finally {
    await node.server.stop();
  }
}

function profileFlags(options: Options): string[] {
  if (!options.profileDir) return [];
  mkdirSync(options.profileDir, { recursive: true });
  return ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`];
}

/** Profiles written by the nodes, per configuration ("sqlite", "postgres", "cluster"), with --profile. */
const profiles: Record<string, string[]> = {};

async function stopAll(nodes: readonly BenchNode[], options: Options, label: string): Promise<void> {
  await Promise.all(nodes.map((n) => n.server.stop()));
  for (const n of options.profileDir ? nodes : []) {
    const file = newestProfile(options.profileDir!, n.server.pid);
    if (file) (profiles[label] ??= []).push(file);
  }
}

/** One node, no Redis: the CPU phase and same-node latency. */
async function singleNode(
  dataDir: string,
  fx: Fixture,
  options: Options,
  cleanup: Cleanup,
  label: string,
): Promise<SingleFigures> {
  note(`single node (${label})`);
  const node = await startNode({
    dataDir,
    cleanup,
    logName: `single-${label}-${randomSuffix()}`,
    nodeFlags: profileFlags(options),
  });
  try {
    const load = {
      nodes: [node],
      publishersAt: node,
      subscriberAt: node,
      devices: fx.load,
      subscriber: fx.services[0],
    };
    const cpu = await messageCpuPhase({
      ...load,
      caPem: fx.caPem,
      messages: options.messages,
      rate: options.rate,
      concurrency: options.concurrency,
    });
    if (options.cpuOnly) return { cpu, latency: null };
    const latency = await latencyPhase({
      publisher: fx.publisher,
      publisherAt: node,
      near: fx.services[0],
      far: null,
      caPem: fx.caPem,
      samples: options.samples,
      intervalMs: options.intervalMs,
    });
    return { cpu, latency };
  } finally {
    await stopAll([node], options, label);
  }
}

async function cluster(
  dataDir: string,
  fx: Fixture,
  options: Options,
  cleanup: Cleanup,
  run: number,
): Promise<RunFigures["cluster"]> {
  const keyPrefix = `fgbcluster-${randomSuffix()}`;
  cleanup.add(() => cleanRedisPrefix(keyPrefix));
  note(`cluster of 3 nodes, Redis key prefix ${keyPrefix}`);
  const nodes: BenchNode[] = [];
  try {
    for (const id of ["n1", "n2", "n3"])
      nodes.push(
        await startNode({
          dataDir,
          cleanup,
          logName: `${id}-run${run}`,
          cluster: { id, keyPrefix },
          nodeFlags: profileFlags(options),
        }),
      );
    const [n1, n2, n3] = nodes as [BenchNode, BenchNode, BenchNode];
    const load = { nodes, publishersAt: n1, subscriberAt: n2, devices: fx.load, subscriber: fx.services[1] };
    const cpu = await messageCpuPhase({
      ...load,
      caPem: fx.caPem,
      messages: options.messages,
      rate: options.rate,
      concurrency: options.concurrency,
    });
    if (options.cpuOnly) return { cpu, latency: null, revoke: null, failover: null };
    const far = { node: n2, credential: fx.services[1] };
    const latency = await latencyPhase({
      publisher: fx.publisher,
      publisherAt: n1,
      near: fx.services[0],
      far,
      caPem: fx.caPem,
      samples: options.samples,
      intervalMs: options.intervalMs,
    });
    const revoke = await revokeAcross(n1, [n2, n3], fx.revoked[run - 1]!, fx.caPem, options);
    const failover = await failoverPhase(
      {
        victim: n2,
        survivors: [n1, n3],
        devices: fx.failover,
        caPem: fx.caPem,
        reconnectPeriodMs: options.reconnectMs,
        concurrency: options.concurrency,
        timeoutMs: 60_000,
      },
      PREFIX.failover,
    );
    return { cpu, latency, revoke, failover };
  } finally {
    await stopAll(nodes, options, "cluster");
    await cleanRedisPrefix(keyPrefix);
  }
}

/** Half the devices on each of `targets`, revoked through `via`. */
async function revokeAcross(
  via: BenchNode,
  targets: readonly BenchNode[],
  devices: readonly DeviceCredential[],
  caPem: string,
  options: Options,
) {
  const connected = await Promise.all(
    targets.map(async (node, t) => {
      const mine = devices.filter((_, i) => i % targets.length === t);
      const clients = await connectAll(targetOf(node, caPem), mine, options.concurrency);
      return clients.map((c) => ({ connected: c, node: node.id! }));
    }),
  );
  const interleaved = connected.flat().sort((a, b) => (a.connected.id < b.connected.id ? -1 : 1));
  note(
    `${interleaved.length} revocations through node ${via.id}, devices on ${targets.map((t) => t.id).join(" and ")}`,
  );
  try {
    return await revokePhase(via, interleaved);
  } finally {
    await closeAll(interleaved.map((d) => d.connected));
  }
}

async function run(options: Options, cleanup: Cleanup): Promise<ClusterReport> {
  const unavailable = await enginesUnavailable();
  if (unavailable !== null) throw new Error(`cannot run the cluster benchmark: ${unavailable}`);
  const started = performance.now();
  const uptimeStart = uptimeLine();
  const pgDir = mkdtempSync(join(tmpdir(), "fleetgate-bench-cluster-"));
  cleanup.add(() => rmSync(pgDir, { recursive: true, force: true }));
  const { schema, registryUrl } = benchSchema(cleanup);
  note(`data dir ${pgDir}, registry schema ${schema}`);
  writeConfig(pgDir, benchConfig(options, registryUrl));
  await runCli(["init", "--data", pgDir, "--registry", registryUrl]);
  const pgFixture = await prepare(pgDir, options, cleanup, !options.cpuOnly);
  let sqliteDir: string | null = null;
  let sqliteFixture: Fixture | null = null;
  if (options.sqlite) {
    sqliteDir = mkdtempSync(join(tmpdir(), "fleetgate-bench-cluster-sqlite-"));
    cleanup.add(() => rmSync(sqliteDir!, { recursive: true, force: true }));
    writeConfig(sqliteDir, benchConfig(options));
    await initDataDir(sqliteDir);
    sqliteFixture = await prepare(sqliteDir, options, cleanup, false);
  }
  const runs: RunFigures[] = [];
  for (let r = 1; r <= options.runs; r++) {
    note(`run ${r} of ${options.runs}`);
    const sqlite =
      sqliteDir && sqliteFixture ? await singleNode(sqliteDir, sqliteFixture, options, cleanup, "sqlite") : null;
    const postgres = await singleNode(pgDir, pgFixture, options, cleanup, "postgres");
    runs.push({ sqlite, postgres, cluster: await cluster(pgDir, pgFixture, options, cleanup, r) });
  }
  const settings = {
    devices: options.devices,
    messages: options.messages,
    ratePerSecond: options.rate,
    revocations: options.revocations,
    failoverDevices: options.failover,
    latencySamples: options.samples,
    latencyIntervalMs: options.intervalMs,
    reconnectPeriodMs: options.reconnectMs,
    runs: options.runs,
    profiled: options.profileDir !== null,
    cpuOnly: options.cpuOnly,
  };
  const partial = { machine: machineInfo(), uptime: { start: uptimeStart, end: uptimeLine() }, settings, runs };
  const profile =
    options.profileDir && profiles["postgres"] && profiles["cluster"]
      ? profileDiff(profiles["postgres"], profiles["cluster"], options.messages * options.runs)
      : null;
  return {
    ...partial,
    profile,
    wallSeconds: (performance.now() - started) / 1000,
    summary: summarizeRuns(runs),
    problems: problemsOf(runs, options),
  };
}

process.exitCode = await benchMain({
  name: "bench:cluster",
  usage: USAGE,
  parse: parseOptions,
  run,
  finish(report: ClusterReport, options: Options) {
    console.log(options.json ? JSON.stringify(report, null, 2) : humanReport(report));
    return report.problems.length === 0 ? 0 : 1;
  },
});
