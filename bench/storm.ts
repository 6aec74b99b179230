/**
 * `npm run bench:storm`: the whole fleet boots at once, as after a power cut. Every device makes
 * its key, enrolls (EST, fresh TLS connection), connects over mTLS MQTT and publishes; the figure
 * is the time from the first power-on until every device's first telemetry has reached the
 * backend consumer.
 *
 *   npx tsx bench/storm.ts [--devices 5000] [--rate 0.2] [--timeout-s 300] [--json]
 *   npx tsx bench/storm.ts --scenario renew [--devices 2000] [--lifetime 2m] [--duration 6m] [--retention 1m]
 *
 * `--scenario renew` is the renewal storm of short-lived certificates: the fleet boots at once with
 * certificates of `--lifetime`, so every device comes back for simplereenroll at two thirds of it (with
 * the simulator's ±5% jitter), again and again for `--duration`. Every renewal must succeed and no
 * telemetry may be lost; superseded certificates are pruned `--retention` after they expire, and the
 * registry's certificate count at the end shows that it does not grow with the number of renewals.
 *
 * fleetgate runs as its own process (`fleetgate serve`, its CPU read from /proc) with the enroll
 * and MQTT connect rate limits raised so that they never bind; the fleet is the real simulator
 * (device-sim) in this process. Exit code 0 when every device delivered and nothing was lost.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { parseDuration } from "../src/domain/duration.js";
import { formatSummary, runFleet, type FleetProgress, type FleetReport } from "../device-sim/index.js";
import { benchMain } from "./lib/bench-main.js";
import type { Cleanup } from "./lib/cleanup.js";
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
import { machineInfo } from "./lib/machine.js";
import { round } from "./lib/stats.js";
import { section } from "./lib/table.js";

const PREFIX = "storm-";
const CONSUMER = "storm-consumer";
/** Once the whole fleet is online, this long more lets every device's first message arrive. */
const SETTLE_MS = 3_000;

interface Options {
  readonly scenario: "storm" | "renew";
  readonly devices: number;
  readonly rate: number;
  readonly timeoutMs: number;
  /** renew: certificate lifetime, run length and superseded retention (durations as config takes them). */
  readonly lifetime: string;
  readonly durationMs: number;
  readonly retention: string;
  readonly json: boolean;
}

const USAGE = `usage: npx tsx bench/storm.ts [--scenario storm|renew] [--devices N] [--rate 0.2] [--timeout-s 300] [--json]
       renew only: [--lifetime 2m] [--duration 6m] [--retention 1m]  (default --devices: 5000 storm, 2000 renew)`;

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      devices: { type: "string" },
      rate: { type: "string" },
      "timeout-s": { type: "string" },
      scenario: { type: "string" },
      lifetime: { type: "string" },
      duration: { type: "string" },
      retention: { type: "string" },
      json: { type: "boolean", default: false },
    },
    strict: true,
  });
  const scenario = values.scenario ?? "storm";
  if (scenario !== "storm" && scenario !== "renew")
    throw new Error(`--scenario must be storm or renew (got ${scenario})`);
  const devices = Number(values.devices ?? (scenario === "renew" ? 2000 : 5000));
  const rate = Number(values.rate ?? 0.2);
  const timeoutS = Number(values["timeout-s"] ?? 300);
  if (!Number.isInteger(devices) || devices < 1)
    throw new Error(`--devices must be a positive integer (got ${values.devices})`);
  if (!(rate > 0))
    throw new Error(`--rate must be a positive number of messages per second per device (got ${values.rate})`);
  if (!(timeoutS > 0)) throw new Error(`--timeout-s must be positive (got ${values["timeout-s"]})`);
  const durationMs = parseDuration(values.duration ?? "6m");
  if (durationMs === null) throw new Error(`--duration must be a duration like 6m (got ${values.duration})`);
  for (const [flag, value] of [
    ["lifetime", values.lifetime],
    ["retention", values.retention],
  ] as const)
    if (value !== undefined && parseDuration(value) === null) throw new Error(`--${flag} must be a duration like 2m`);
  return {
    scenario,
    devices,
    rate,
    timeoutMs: timeoutS * 1000,
    lifetime: values.lifetime ?? "2m",
    durationMs,
    retention: values.retention ?? "1m",
    json: values.json ?? false,
  };
}

async function startFleetgate(
  options: Options,
  cleanup: Cleanup,
): Promise<{ dataDir: string; server: FleetgateServer }> {
  const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-storm-"));
  cleanup.add(() => rmSync(dataDir, { recursive: true, force: true }));
  await initDataDir(dataDir);
  const unlimited = { perSecond: 1_000_000, burst: 1_000_000 };
  const shortLived =
    options.scenario === "renew"
      ? {
          profiles: { device: { role: "device", lifetime: options.lifetime } },
          ca: { supersededRetention: options.retention },
        }
      : {};
  writeConfig(dataDir, {
    ...unlimitedEnrollConfig(),
    mqtt: { host: "127.0.0.1", port: 0, connectRatePerAddress: unlimited },
    ...shortLived,
  });
  const server = await startServer({ dataDir, logFile: join(dataDir, "server.log"), cleanup, readyService: "metrics" });
  return { dataDir, server };
}

/** Ends the run a moment after every device is online (or gave up), or at the timeout. */
function stopWhenSettled(
  devices: number,
  timeoutMs: number,
): { signal: AbortSignal; onProgress: (p: FleetProgress) => void } {
  const stop = new AbortController();
  const timeout = setTimeout(() => stop.abort(), timeoutMs);
  let settling = false;
  const onProgress = (p: FleetProgress) => {
    if (settling || p.online + p.gaveUp < devices) return;
    settling = true;
    clearTimeout(timeout);
    setTimeout(() => stop.abort(), SETTLE_MS);
  };
  return { signal: stop.signal, onProgress };
}

interface Outcome {
  readonly report: FleetReport;
  readonly serverCpuMs: number | null;
  /** renew: the registry's certificates by status when the run ended. */
  readonly certificates: Readonly<Record<string, number>> | null;
}

/** Read-only, next to the running server (WAL readers never block it). */
function certificateCounts(dataDir: string): Record<string, number> {
  const db = new Database(join(dataDir, "registry.db"), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare("SELECT status, COUNT(*) AS n FROM certificates GROUP BY status").all() as {
      status: string;
      n: number;
    }[];
    return Object.fromEntries(rows.map((row) => [row.status, row.n]));
  } finally {
    db.close();
  }
}

async function run(options: Options, cleanup: Cleanup): Promise<Outcome> {
  const { dataDir, server } = await startFleetgate(options, cleanup);
  const token = await createGroupToken(dataDir, PREFIX, options.devices);
  const consumerToken = (
    await runCli(["token", "create", "--device", CONSUMER, "--profile", "service", "--data", dataDir])
  ).trim();
  const stateDir = join(dataDir, "fleet");
  const cpuBefore = server.cpuMs();
  console.error(
    `[bench] ${options.scenario}: ${options.devices} devices power on at once against pid ${server.pid}` +
      (options.scenario === "renew" ? `, certificates of ${options.lifetime}, for ${options.durationMs / 1000} s` : ""),
  );
  const ending =
    options.scenario === "renew"
      ? { durationMs: options.durationMs }
      : stopWhenSettled(options.devices, options.timeoutMs);
  const report = await runFleet({
    devices: options.devices,
    scenario: options.scenario,
    prefix: PREFIX,
    rate: options.rate,
    stateDir,
    endpoints: {
      enrollUrl: `https://localhost:${server.ports["enroll"]}`,
      mqttHost: "localhost",
      mqttPort: server.ports["mqtt"]!,
      caPem: caBundlePem(dataDir),
    },
    token,
    consumer: { id: CONSUMER, token: consumerToken },
    ...ending,
  });
  const cpuAfter = server.cpuMs();
  const certificates = options.scenario === "renew" ? certificateCounts(dataDir) : null;
  await server.stop();
  return { report, serverCpuMs: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore, certificates };
}

export interface StormFigures {
  readonly devices: number;
  readonly allDelivered: boolean;
  readonly fleetFirstDeliverySeconds: number | null;
  readonly enrollmentsPerSecond: number;
  readonly handshakesPerSecond: number;
  readonly bootToFirstDeliveryP50Ms: number | null;
  readonly bootToFirstDeliveryP99Ms: number | null;
  readonly serverCpuSeconds: number | null;
  readonly lost: number;
}

function figures(options: Options, report: FleetReport, serverCpuMs: number | null): StormFigures {
  const delivered = report.devices - report.gaveUp.length === report.devices && report.fleetFirstDeliveryMs !== null;
  return {
    devices: options.devices,
    allDelivered: delivered,
    fleetFirstDeliverySeconds:
      report.fleetFirstDeliveryMs === null ? null : round(report.fleetFirstDeliveryMs / 1000, 2),
    enrollmentsPerSecond: report.enrollmentsPerSecond,
    handshakesPerSecond: report.handshakesPerSecond,
    bootToFirstDeliveryP50Ms: report.bootToFirstDeliveryMs?.p50 ?? null,
    bootToFirstDeliveryP99Ms: report.bootToFirstDeliveryMs?.p99 ?? null,
    serverCpuSeconds: serverCpuMs === null ? null : round(serverCpuMs / 1000, 1),
    lost: report.messages.lost,
  };
}

function human(f: StormFigures): string {
  return section("storm: first boot → first telemetry delivered, whole fleet", [
    ["devices", f.devices],
    ["every device delivered", f.allDelivered],
    ["total seconds", f.fleetFirstDeliverySeconds],
    ["enrollments/s (fleet)", f.enrollmentsPerSecond],
    ["MQTT handshakes/s (fleet)", f.handshakesPerSecond],
    [
      "boot → first delivery p50 / p99 ms",
      `${f.bootToFirstDeliveryP50Ms ?? "-"} / ${f.bootToFirstDeliveryP99Ms ?? "-"}`,
    ],
    ["server CPU seconds", f.serverCpuSeconds],
    ["telemetry lost", f.lost],
  ]);
}

export interface RenewFigures {
  readonly devices: number;
  readonly lifetime: string;
  readonly seconds: number | null;
  readonly renewals: number;
  readonly renewalsPerSecond: number | null;
  readonly renewalsRefused: number;
  readonly devicesGaveUp: number;
  readonly everyDeviceRenewed: boolean;
  readonly lost: number;
  readonly maxDeliveryGapMs: number | null;
  readonly serverCpuSeconds: number | null;
  readonly serverCpuMsPerRenewal: number | null;
  readonly certificatesAtEnd: Readonly<Record<string, number>>;
}

function renewFigures(options: Options, outcome: Outcome): RenewFigures {
  const { report, serverCpuMs } = outcome;
  const seconds = report.durationMs / 1000;
  return {
    devices: options.devices,
    lifetime: options.lifetime,
    seconds: round(seconds, 1),
    renewals: report.renewals,
    renewalsPerSecond: round(report.renewals / seconds, 1),
    renewalsRefused: report.renewalRefusals,
    devicesGaveUp: report.gaveUp.length,
    everyDeviceRenewed: report.expectations.find((e) => e.name === "every device renewed")?.ok ?? false,
    lost: report.messages.lost,
    maxDeliveryGapMs: report.maxDeliveryGapMs,
    serverCpuSeconds: serverCpuMs === null ? null : round(serverCpuMs / 1000, 1),
    // The whole run's server CPU (first boots, telemetry and all) over the renewals: an upper bound.
    serverCpuMsPerRenewal:
      serverCpuMs === null || report.renewals === 0 ? null : round(serverCpuMs / report.renewals, 2),
    certificatesAtEnd: outcome.certificates ?? {},
  };
}

function humanRenew(f: RenewFigures): string {
  return section(
    `renew: ${f.devices} devices, ${f.lifetime} certificates, renewed at 2/3 ±5% over EST simplereenroll`,
    [
      ["run seconds", f.seconds],
      ["renewals (refused)", `${f.renewals} (${f.renewalsRefused})`],
      ["renewals/s", f.renewalsPerSecond],
      ["every device renewed", f.everyDeviceRenewed],
      ["devices that gave up", f.devicesGaveUp],
      ["telemetry lost", f.lost],
      ["longest gap between two deliveries of a device ms", f.maxDeliveryGapMs],
      ["server CPU seconds (whole run)", f.serverCpuSeconds],
      ["server CPU ms per renewal (upper bound: includes boots and telemetry)", f.serverCpuMsPerRenewal],
      ["registry certificates at the end", JSON.stringify(f.certificatesAtEnd)],
    ],
  );
}

process.exitCode = await benchMain({
  name: "bench:storm",
  usage: USAGE,
  parse: parseOptions,
  run,
  finish(outcome: Outcome, options: Options) {
    const { report, serverCpuMs } = outcome;
    if (options.scenario === "renew") {
      const result = renewFigures(options, outcome);
      if (options.json) console.log(JSON.stringify({ machine: machineInfo(), renew: result, fleet: report }, null, 2));
      else console.log(`${formatSummary(report)}\n\n${humanRenew(result)}`);
      return report.ok && result.renewalsRefused === 0 && result.lost === 0 ? 0 : 1;
    }
    const result = figures(options, report, serverCpuMs);
    if (options.json) console.log(JSON.stringify({ machine: machineInfo(), storm: result, fleet: report }, null, 2));
    else console.log(`${formatSummary(report)}\n\n${human(result)}`);
    return result.allDelivered && result.lost === 0 ? 0 : 1;
  },
});
