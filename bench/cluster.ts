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
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { benchMain } from "./lib/bench-main.js";
import { uptimeLine } from "./lib/broker-report.js";
import type { Cleanup } from "./lib/cleanup.js";
import { failoverPhase, revokePhase } from "./lib/cluster-failures.js";
import { benchConfig, prepare, PREFIX, type Fixture } from "./lib/cluster-fixture.js";
import {
  benchSchema,
  cleanRedisPrefix,
  enginesUnavailable,
  randomSuffix,
  startNode,
  type BenchNode,
} from "./lib/cluster-nodes.js";
import { parseOptions, USAGE, type Options } from "./lib/cluster-options.js";
import {
  latencyPhase,
  messageCpuPhase,
  note,
  targetOf,
  type LatencyLoad,
  type MessageLoad,
} from "./lib/cluster-phases.js";
import {
  humanReport,
  problemsOf,
  summarizeRuns,
  type ClusterReport,
  type RunFigures,
  type SingleFigures,
} from "./lib/cluster-report.js";
import { newestProfile } from "./lib/cpuprofile.js";
import type { DeviceCredential } from "./lib/device-credentials.js";
import { initDataDir, runCli, writeConfig } from "./lib/fleetgate.js";
import { machineInfo } from "./lib/machine.js";
import { closeAll, connectAll } from "./lib/mqtt-load.js";
import { profileDiff } from "./lib/profile-diff.js";

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

type Placement = Pick<MessageLoad, "nodes" | "publishersAt" | "subscriberAt" | "subscriber">;

const messageLoad = (fx: Fixture, options: Options, placement: Placement): MessageLoad => ({
  ...placement,
  devices: fx.load,
  caPem: fx.caPem,
  messages: options.messages,
  rate: options.rate,
  concurrency: options.concurrency,
});

const latencyLoad = (fx: Fixture, options: Options, at: BenchNode, far: LatencyLoad["far"]): LatencyLoad => ({
  publisher: fx.publisher,
  publisherAt: at,
  near: fx.services[0],
  far,
  caPem: fx.caPem,
  samples: options.samples,
  intervalMs: options.intervalMs,
});

/** One node, no Redis: the CPU phase and same-node latency. */
async function singleNode(dataDir: string, fx: Fixture, options: Options, cleanup: Cleanup, label: string) {
  note(`single node (${label})`);
  const logName = `single-${label}-${randomSuffix()}`;
  const node = await startNode({ dataDir, cleanup, logName, nodeFlags: profileFlags(options) });
  try {
    const placement = { nodes: [node], publishersAt: node, subscriberAt: node, subscriber: fx.services[0] };
    const cpu = await messageCpuPhase(messageLoad(fx, options, placement));
    if (options.cpuOnly) return { cpu, latency: null };
    return { cpu, latency: await latencyPhase(latencyLoad(fx, options, node, null)) } satisfies SingleFigures;
  } finally {
    await stopAll([node], options, label);
  }
}

/** Three nodes on a fresh Redis key prefix: CPU (publishers on 1, subscriber on 2), latency, revoke, failover. */
async function cluster(dataDir: string, fx: Fixture, options: Options, cleanup: Cleanup, run: number) {
  const keyPrefix = `fgbcluster-${randomSuffix()}`;
  cleanup.add(() => cleanRedisPrefix(keyPrefix));
  note(`cluster of 3 nodes, Redis key prefix ${keyPrefix}`);
  const nodes: BenchNode[] = [];
  try {
    for (const id of ["n1", "n2", "n3"]) {
      const start = { dataDir, cleanup, logName: `${id}-run${run}`, cluster: { id, keyPrefix } };
      nodes.push(await startNode({ ...start, nodeFlags: profileFlags(options) }));
    }
    const [n1, n2, n3] = nodes as [BenchNode, BenchNode, BenchNode];
    const placement = { nodes, publishersAt: n1, subscriberAt: n2, subscriber: fx.services[1] };
    const cpu = await messageCpuPhase(messageLoad(fx, options, placement));
    if (options.cpuOnly) return { cpu, latency: null, revoke: null, failover: null };
    const latency = await latencyPhase(latencyLoad(fx, options, n1, { node: n2, credential: fx.services[1] }));
    const revoke = await revokeAcross(n1, [n2, n3], fx.revoked[run - 1]!, fx.caPem, options);
    const failover = await failoverPhase(
      { victim: n2, survivors: [n1, n3], devices: fx.failover, caPem: fx.caPem, ...failoverSettings(options) },
      PREFIX.failover,
    );
    return { cpu, latency, revoke, failover } satisfies RunFigures["cluster"];
  } finally {
    await stopAll(nodes, options, "cluster");
    await cleanRedisPrefix(keyPrefix);
  }
}

const failoverSettings = (options: Options) => ({
  reconnectPeriodMs: options.reconnectMs,
  concurrency: options.concurrency,
  timeoutMs: 60_000,
});

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

/** The sizes of the run, as the report shows them. */
const settingsOf = (options: Options) => ({
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
});

/** The PostgreSQL data dir (schema, init, credentials) and, unless --no-sqlite, the SQLite one. */
async function dataDirs(options: Options, cleanup: Cleanup) {
  const pgDir = mkdtempSync(join(tmpdir(), "fleetgate-bench-cluster-"));
  cleanup.add(() => rmSync(pgDir, { recursive: true, force: true }));
  const { schema, registryUrl } = benchSchema(cleanup);
  note(`data dir ${pgDir}, registry schema ${schema}`);
  writeConfig(pgDir, benchConfig(options, registryUrl));
  await runCli(["init", "--data", pgDir, "--registry", registryUrl]);
  const postgres = { dir: pgDir, fixture: await prepare(pgDir, options, cleanup, !options.cpuOnly) };
  if (!options.sqlite) return { postgres, sqlite: null };
  const sqliteDir = mkdtempSync(join(tmpdir(), "fleetgate-bench-cluster-sqlite-"));
  cleanup.add(() => rmSync(sqliteDir, { recursive: true, force: true }));
  writeConfig(sqliteDir, benchConfig(options));
  await initDataDir(sqliteDir);
  return { postgres, sqlite: { dir: sqliteDir, fixture: await prepare(sqliteDir, options, cleanup, false) } };
}

async function run(options: Options, cleanup: Cleanup): Promise<ClusterReport> {
  const unavailable = await enginesUnavailable();
  if (unavailable !== null) throw new Error(`cannot run the cluster benchmark: ${unavailable}`);
  const started = performance.now();
  const uptimeStart = uptimeLine();
  const dirs = await dataDirs(options, cleanup);
  const runs: RunFigures[] = [];
  for (let r = 1; r <= options.runs; r++) {
    note(`run ${r} of ${options.runs}`);
    const { sqlite: lite, postgres: pg } = dirs;
    const sqlite = lite ? await singleNode(lite.dir, lite.fixture, options, cleanup, "sqlite") : null;
    const postgres = await singleNode(pg.dir, pg.fixture, options, cleanup, "postgres");
    runs.push({ sqlite, postgres, cluster: await cluster(pg.dir, pg.fixture, options, cleanup, r) });
  }
  const settings = settingsOf(options);
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
