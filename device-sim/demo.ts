/**
 * `npm start`: the one-command demo. Initializes the data dir if it is empty, starts fleetgate on
 * its embedded defaults in this process (server log to `<data>/fleetgate.log`), then boots a
 * small simulated fleet and the telemetry consumer and prints what happens, until Ctrl-C.
 *
 *   npm start                         # 5 devices, 1 message/s each
 *   FLEETGATE_DEMO_DEVICES=20 npm start
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { issueToken } from "../src/app/issue-token.js";
import { pkiExists, pkiPaths } from "../src/adapters/shared/key-files.js";
import { loadConfig, type Config } from "../src/config.js";
import { createLogger, type Logger } from "../src/logger.js";
import { initDataDir, startFleetgate, type RunningFleetgate } from "../src/main.js";
import { systemClock } from "../src/ports.js";
import { formatSummary, runFleet, type FleetEvent, type FleetProgress, type TokenSource } from "./index.js";

const DEVICES = Number(process.env["FLEETGATE_DEMO_DEVICES"] ?? 5);
const PREFIX = "demo-";
const STATUS_EVERY_MS = 5_000;

function say(line: string): void {
  console.log(`${new Date().toISOString().slice(11, 19)}  ${line}`);
}

function describe(event: FleetEvent): string {
  switch (event.type) {
    case "enrolled":
      return `${event.deviceId} first boot: key made on the device, certificate enrolled (${event.method})`;
    case "rebooted":
      return `${event.deviceId} reboot: stored key and certificate reused`;
    case "connected":
      return `${event.deviceId} connected over mTLS MQTT${event.reconnect ? " (again)" : ""}`;
    case "renewed":
      return `${event.deviceId} renewed its certificate (EST simplereenroll), valid until ${new Date(event.notAfter).toISOString()}`;
    case "kicked":
      return `${event.deviceId} was disconnected by the broker`;
    case "refused":
      return `${event.deviceId} refused at ${event.stage}: ${event.reason}`;
    case "gave-up":
      return `${event.deviceId} gave up: ${event.reason}`;
    case "revoked":
      return `${event.deviceId} revoked by an operator`;
  }
}

/** Tokens come straight from the registry (this process is the server): one per device, shown to nobody. */
function tokenSource(running: RunningFleetgate, config: Config, profile: string): TokenSource {
  const deps = { registry: running.registry, clock: systemClock, profiles: new Set(Object.keys(config.profiles)) };
  return async (deviceId) => (await issueToken(deps, { deviceId, ttlMs: 3_600_000, profile, actor: "demo" })).token;
}

async function startServer(config: Config): Promise<{ running: RunningFleetgate; logger: Logger; logFile: string }> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const logFile = join(config.dataDir, "fleetgate.log");
  const logger = createLogger(config.logLevel, pino.destination({ dest: logFile, mkdir: true, sync: false }));
  if (!pkiExists(pkiPaths(config.dataDir))) {
    say(
      `no PKI in ${config.dataDir}: creating root CA, issuing CA, server certificate, registry and operator credential`,
    );
    await initDataDir(config, logger);
  }
  return { running: await startFleetgate(config, logger), logger, logFile };
}

function printListeners(running: RunningFleetgate, logFile: string): void {
  const { ports } = running;
  say(`fleetgate is up (server log: ${logFile})`);
  say(
    `  enroll https://localhost:${ports.enroll}   mqtt mqtts://localhost:${ports.mqtt}   pki http://localhost:${ports.pki}`,
  );
  say(`  admin https://127.0.0.1:${ports.admin}   metrics http://127.0.0.1:${ports.metrics}/metrics`);
  say(`booting ${DEVICES} simulated devices and a telemetry consumer; in another terminal try`);
  say(`  npx fleetgate device list --online      npx fleetgate device revoke ${PREFIX}0002`);
  say("Ctrl-C stops everything");
}

function statusPrinter(): (progress: FleetProgress) => void {
  let last = 0;
  return (p) => {
    if (p.elapsedMs - last < STATUS_EVERY_MS) return;
    last = p.elapsedMs;
    say(
      `status: ${p.online}/${p.devices} online, telemetry sent ${p.sent}, delivered to the consumer ${p.received}, kicks ${p.kicks}, renewals ${p.renewals}`,
    );
  };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const { running, logger } = await startServer(config).then(
    (started) => (printListeners(started.running, started.logFile), started),
  );
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  process.once("SIGTERM", () => stop.abort());
  try {
    const report = await runFleet({
      devices: DEVICES,
      prefix: PREFIX,
      rate: 1,
      signal: stop.signal,
      stateDir: join(config.dataDir, "demo-fleet"),
      endpoints: {
        enrollUrl: `https://localhost:${running.ports.enroll}`,
        mqttHost: "localhost",
        mqttPort: running.ports.mqtt,
        caPem: readFileSync(pkiPaths(config.dataDir).rootCert, "utf8"),
      },
      token: tokenSource(running, config, "device"),
      consumer: { id: `${PREFIX}consumer`, token: tokenSource(running, config, "service") },
      onEvent: (event) => say(describe(event)),
      onProgress: statusPrinter(),
    });
    console.log(`\n${formatSummary(report)}`);
  } finally {
    say("stopping fleetgate");
    await running.close();
    logger.flush();
  }
}

main().catch((error: unknown) => {
  console.error(`fleetgate demo: ${(error as Error).message}`);
  process.exit(1);
});
