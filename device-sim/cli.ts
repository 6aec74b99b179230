#!/usr/bin/env node
import { Command, Option } from "commander";
import { fleetAdminFromDataDir, type FleetAdmin } from "./admin.js";
import { EndpointError, resolveEndpoints } from "./endpoints.js";
import { writeFileSync } from "node:fs";
import { runFleet, type FleetOptions } from "./fleet.js";
import type { FleetRecording } from "./report.js";
import { fleetReportHtml } from "./report-html.js";
import * as parse from "./cli-options.js";
import { progressView } from "./progress.js";
import { formatSummary } from "./summary.js";
import type { FleetEvent } from "./types.js";

const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

function program(): Command {
  return new Command("fleetgate-sim")
    .description(
      "Simulate a fleet of devices against a fleetgate server: enrollment, mTLS MQTT telemetry, renewal, revocation",
    )
    .option("--devices <n>", "number of devices", parse.positiveInt, 10)
    .option("--rate <msgs-per-s>", "telemetry messages per second per device", parse.positiveNumber, 1)
    .option("--duration <duration>", "run length, e.g. 60s or 5m", parse.duration, 60_000)
    .addOption(
      new Option("--scenario <name>", "steady | storm | revoke | renew | rotate")
        .argParser(parse.scenario)
        .default("steady"),
    )
    .option("--revoke <k>", "revoke scenario: devices an operator revokes mid-run (default 1)", parse.positiveInt)
    .option(
      "--revoke-at <duration>",
      "revoke scenario: when (default: after the ramp, at 40% of the run)",
      parse.duration,
    )
    .option(
      "--rotate-at <duration>",
      "rotate scenario: when the issuing CA rotates (default: at 40% of the run)",
      parse.duration,
    )
    .option(
      "--ramp <duration>",
      "spread first boots over this long (steady, revoke; storm boots all at once)",
      parse.duration,
    )
    .option("--state <dir>", "device credentials, one folder per device (default DATA/sim or ./sim-state)")
    .option("--data <dir>", "data dir of a running server: endpoints, root CA and admin access (tokens, revocation)")
    .option("--token <token>", "bootstrap group token for first boots (fleetgate token create --prefix sim- --uses N)")
    .option("--consumer-token <token>", "single-device token with the service profile for the backend consumer")
    .option("--consumer-id <id>", "the backend consumer's id", "sim-consumer")
    .option("--prefix <prefix>", "device id prefix", "sim-")
    .addOption(new Option("--enroll-method <method>", "est | json").argParser(parse.enrollMethod).default("est"))
    .option("--enroll-url <url>", "enrollment base URL, e.g. https://localhost:8443")
    .option("--mqtt-url <urls>", "broker URL(s), comma-separated for a cluster, e.g. mqtts://a:8883,mqtts://b:8883")
    .option("--ca <file>", "root CA PEM (default DATA/pki/root-ca.crt)")
    .option("--concurrency <n>", "HTTPS requests (enrollments, renewals) in flight", parse.positiveInt, 64)
    .option(
      "--max-refusals <n>",
      "refused connects or enrollments in a row before a device gives up",
      parse.positiveInt,
      4,
    )
    .option("--json", "print the report as JSON", false)
    .option("--report <file.html>", "also write the report as a self-contained HTML page with charts")
    .option("--events", "print device events (enrolled, kicked, refused, gave up …) to stderr", false)
    .option("--no-progress", "no progress bar even on a terminal")
    .showHelpAfterError()
    .action(run);
}

async function run(flags: parse.SimFlags): Promise<void> {
  const problem = parse.flagProblem(flags);
  if (problem) fail(problem, EXIT.usage);
  const endpoints = resolveEndpoints({
    dataDir: flags.data,
    enrollUrl: flags.enrollUrl,
    mqttUrl: flags.mqttUrl,
    caFile: flags.ca,
  });
  const admin = flags.data ? fleetAdminFromDataDir(flags.data, { prefix: flags.prefix, devices: flags.devices }) : null;
  const progress = progressView(flags.progress && !flags.json);
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  let recording: FleetRecording | null = null;
  const report = await runFleet({
    ...fleetOptions(flags, admin),
    endpoints,
    signal: stop.signal,
    onProgress: (p) => progress.update(p),
    onEvent: flags.events ? printEvent : undefined,
    onRecording: flags.report ? (r) => (recording = r) : undefined,
  });
  progress.stop();
  if (flags.report && recording) {
    writeFileSync(flags.report, fleetReportHtml(report, recording));
    console.error(`fleetgate-sim: report written to ${flags.report}`);
  }
  console.log(flags.json ? JSON.stringify(report, null, 2) : formatSummary(report));
  process.exitCode = report.ok ? EXIT.ok : EXIT.failed;
}

function fleetOptions(flags: parse.SimFlags, admin: FleetAdmin | null): Omit<FleetOptions, "endpoints"> {
  return {
    devices: flags.devices,
    rate: flags.rate,
    durationMs: flags.duration,
    scenario: flags.scenario,
    stateDir: parse.stateDirOf(flags),
    token: flags.token ?? admin!.deviceToken,
    consumer: { id: flags.consumerId, token: flags.consumerToken ?? admin?.consumerToken },
    prefix: flags.prefix,
    enrollMethod: flags.enrollMethod,
    rampMs: flags.ramp,
    revoke:
      admin && flags.scenario === "revoke"
        ? { count: flags.revoke ?? 1, atMs: flags.revokeAt, revokeDevice: admin.revokeDevice }
        : undefined,
    rotate: admin && flags.scenario === "rotate" ? { atMs: flags.rotateAt, rotateCa: admin.rotateCa } : undefined,
    httpConcurrency: flags.concurrency,
    retry: { maxRefusals: flags.maxRefusals },
  };
}

function printEvent(event: FleetEvent): void {
  const { type, deviceId, at, ...details } = event;
  const extra = Object.entries(details)
    .map(([key, value]) => `${key}=${value}`)
    .join(" ");
  process.stderr.write(`${new Date(at).toISOString()} ${type.padEnd(9)} ${deviceId} ${extra}\n`);
}

function fail(message: string, code: number): never {
  console.error(`fleetgate-sim: ${message}`);
  process.exit(code);
}

program()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    const code =
      (error as { exitCode?: number }).exitCode ?? (error instanceof EndpointError ? EXIT.usage : EXIT.failed);
    fail((error as Error).message, code);
  });
