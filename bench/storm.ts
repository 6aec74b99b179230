/**
 * `npm run bench:storm`: the whole fleet boots at once, as after a power cut. Every device makes
 * its key, enrolls (EST, fresh TLS connection), connects over mTLS MQTT and publishes; the figure
 * is the time from the first power-on until every device's first telemetry has reached the
 * backend consumer.
 *
 *   npx tsx bench/storm.ts [--devices 5000] [--rate 0.2] [--timeout-s 300] [--json]
 *
 * fleetgate runs as its own process (`fleetgate serve`, its CPU read from /proc) with the enroll
 * and MQTT connect rate limits raised so that they never bind; the fleet is the real simulator
 * (device-sim) in this process. Exit code 0 when every device delivered and nothing was lost.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
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
  readonly devices: number;
  readonly rate: number;
  readonly timeoutMs: number;
  readonly json: boolean;
}

const USAGE = "usage: npx tsx bench/storm.ts [--devices 5000] [--rate 0.2] [--timeout-s 300] [--json]";

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      devices: { type: "string" },
      rate: { type: "string" },
      "timeout-s": { type: "string" },
      json: { type: "boolean", default: false },
    },
    strict: true,
  });
  const devices = Number(values.devices ?? 5000);
  const rate = Number(values.rate ?? 0.2);
  const timeoutS = Number(values["timeout-s"] ?? 300);
  if (!Number.isInteger(devices) || devices < 1)
    throw new Error(`--devices must be a positive integer (got ${values.devices})`);
  if (!(rate > 0))
    throw new Error(`--rate must be a positive number of messages per second per device (got ${values.rate})`);
  if (!(timeoutS > 0)) throw new Error(`--timeout-s must be positive (got ${values["timeout-s"]})`);
  return { devices, rate, timeoutMs: timeoutS * 1000, json: values.json ?? false };
}

async function startFleetgate(cleanup: Cleanup): Promise<{ dataDir: string; server: FleetgateServer }> {
  const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-storm-"));
  cleanup.add(() => rmSync(dataDir, { recursive: true, force: true }));
  await initDataDir(dataDir);
  const unlimited = { perSecond: 1_000_000, burst: 1_000_000 };
  writeConfig(dataDir, {
    ...unlimitedEnrollConfig(),
    mqtt: { host: "127.0.0.1", port: 0, connectRatePerAddress: unlimited },
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

async function run(options: Options, cleanup: Cleanup): Promise<{ report: FleetReport; serverCpuMs: number | null }> {
  const { dataDir, server } = await startFleetgate(cleanup);
  const token = await createGroupToken(dataDir, PREFIX, options.devices);
  const consumerToken = (
    await runCli(["token", "create", "--device", CONSUMER, "--profile", "service", "--data", dataDir])
  ).trim();
  const stateDir = join(dataDir, "fleet");
  const cpuBefore = server.cpuMs();
  console.error(`[bench] storm: ${options.devices} devices power on at once against pid ${server.pid}`);
  const report = await runFleet({
    devices: options.devices,
    scenario: "storm",
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
    ...stopWhenSettled(options.devices, options.timeoutMs),
  });
  const cpuAfter = server.cpuMs();
  await server.stop();
  return { report, serverCpuMs: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore };
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

process.exitCode = await benchMain({
  name: "bench:storm",
  usage: USAGE,
  parse: parseOptions,
  run,
  finish({ report, serverCpuMs }: { report: FleetReport; serverCpuMs: number | null }, options: Options) {
    const result = figures(options, report, serverCpuMs);
    if (options.json) console.log(JSON.stringify({ machine: machineInfo(), storm: result, fleet: report }, null, 2));
    else console.log(`${formatSummary(report)}\n\n${human(result)}`);
    return result.allDelivered && result.lost === 0 ? 0 : 1;
  },
});
