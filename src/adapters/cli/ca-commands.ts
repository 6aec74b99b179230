import { existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { reloadPki } from "../../app/issuing-cas.js";
import { loadConfig, type Config } from "../../config.js";
import { parseDuration } from "../../domain/duration.js";
import type { Logger } from "../../logger.js";
import type { RunningFleetgate } from "../../main.js";
import { withCaKeys } from "../../wiring/pki-init.js";
import { systemClock } from "../../ports.js";
import { pkiPaths, writeNewFile } from "../shared/key-files.js";
import {
  activateIssuingCa,
  prepareIssuingCa,
  renewServerCertificate,
  rotateIssuingCa,
  type Activation,
  type RotationContext,
} from "../../../provisioning/ca-rotation.js";
import { signIssuingCsrWith } from "../../../provisioning/sign-issuing.js";
import { AdminClient } from "./admin-client.js";
import { printPki, type PkiRows } from "./ca-output.js";
import { CliError, EXIT, isoTime, printJson, text } from "./output.js";

type Opts = Record<string, unknown>;

function configOf(opts: Opts, extra: Record<string, unknown> = {}): Config {
  return loadConfig({ ...(opts["data"] ? { dataDir: opts["data"] } : {}), ...extra });
}

function client(config: Config, opts: Opts): AdminClient {
  return AdminClient.fromConfig(config, (opts["operator"] as string | undefined) ?? "admin");
}

/** Runs `work` with the data dir's CA keys (files, or the configured token: PIN from the environment). */
function onDisk<T>(config: Config, opts: Opts, work: (ctx: RotationContext) => Promise<T>): Promise<T> {
  const hostnames = [...config.hostnames, ...((opts["hostname"] as string[] | undefined) ?? [])];
  return withCaKeys(config, process.env, (keys) => work({ paths: pkiPaths(config.dataDir), keys, hostnames }));
}

/**
 * Tells the running server to load pki/ again (it also does on SIGHUP). No server running is fine:
 * `serve` reads pki/ when it starts. A server that cannot load the new files keeps the old ones, and
 * that is an error here.
 */
async function reloadServer(config: Config, opts: Opts): Promise<void> {
  let result: Record<string, unknown>;
  try {
    result = await client(config, opts).call<Record<string, unknown>>("POST", "/v1/pki/reload", {});
  } catch (error) {
    if (error instanceof CliError && error.exitCode === EXIT.unreachable) {
      console.log(`no server is running for ${config.dataDir}: \`fleetgate serve\` loads the new PKI when it starts`);
      return;
    }
    throw error;
  }
  const trusted = (result["trusted"] as string[]).join(", ");
  console.log(`the running server reloaded its PKI: signs with ${text(result["activeCa"])}, trusts ${trusted}`);
}

function lifetimeOf(opts: Opts): number | undefined {
  if (opts["days"] === undefined) return undefined;
  const days = Number(opts["days"]);
  if (!Number.isInteger(days) || days < 1) throw new CliError("--days must be a positive integer", EXIT.usage);
  return days * 86_400_000;
}

function keyTypeOf(opts: Opts, config: Config): "file" | "pkcs11" {
  const given = (opts["caKey"] as string | undefined) ?? config.ca.key;
  if (given !== "file" && given !== "pkcs11") throw new CliError("--ca-key must be file or pkcs11", EXIT.usage);
  return given;
}

function describeActivation(activation: Activation): void {
  const until = isoTime(activation.notAfter);
  console.log(`issuing CA ${activation.id} is active (valid until ${until}); ${activation.previous} is retiring`);
  const server = activation.serverCertificate;
  console.log(
    `server certificate renewed from ${activation.id}: serial ${server.serial}, valid until ${isoTime(server.notAfter)}`,
  );
}

async function rotate(opts: Opts): Promise<void> {
  const config = configOf(opts);
  const keyType = keyTypeOf(opts, config);
  if (!opts["csr"]) {
    describeActivation(await onDisk(config, opts, (ctx) => rotateIssuingCa(ctx, keyType, lifetimeOf(opts))));
    return reloadServer(config, opts);
  }
  const prepared = await onDisk(config, opts, (ctx) => prepareIssuingCa(ctx, keyType));
  const out = opts["out"] as string | undefined;
  if (out !== undefined) writeNewFile(out, prepared.csrPem, 0o644);
  const where = prepared.key.type === "file" ? prepared.key.path : `token label "${prepared.key.label}"`;
  console.log(`issuing CA ${prepared.id} prepared: key ${where}, CSR ${out ?? prepared.csrFile}`);
  console.log("sign it where the root key is kept, then activate the certificate here:");
  console.log(
    `  fleetgate ca sign-issuing --root-key root-ca.key --root-cert root-ca.crt --csr ${prepared.id}.csr --out ${prepared.id}.crt`,
  );
  console.log(`  fleetgate ca activate ${prepared.id}.crt`);
}

async function signIssuing(opts: Opts): Promise<void> {
  const required = (name: string) => {
    const value = opts[name];
    if (typeof value !== "string")
      throw new CliError(`--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is required`, EXIT.usage);
    return value;
  };
  const [rootKey, rootCert, csr] = [required("rootKey"), required("rootCert"), required("csr")];
  for (const file of [rootCert, csr]) if (!existsSync(file)) throw new CliError(`no such file ${file}`, EXIT.usage);
  const config = configOf(opts);
  const pem = await signIssuingCsrWith(config, process.env, {
    rootKey,
    rootCertPem: readFileSync(rootCert, "utf8"),
    csrPem: readFileSync(csr, "utf8"),
    lifetimeMs: lifetimeOf(opts),
  });
  const out = opts["out"] as string | undefined;
  if (out === undefined) return void process.stdout.write(pem);
  writeNewFile(out, pem, 0o644);
  console.error(`issuing CA certificate written to ${out}; install it with \`fleetgate ca activate ${out}\``);
}

async function activate(file: string, opts: Opts): Promise<void> {
  if (!existsSync(file)) throw new CliError(`no such file ${file}`, EXIT.usage);
  const config = configOf(opts);
  describeActivation(await onDisk(config, opts, (ctx) => activateIssuingCa(ctx, readFileSync(file, "utf8"))));
  await reloadServer(config, opts);
}

async function retire(id: string, opts: Opts): Promise<void> {
  const config = configOf(opts);
  const result = await client(config, opts).call<Record<string, unknown>>(
    "POST",
    `/v1/pki/cas/${encodeURIComponent(id)}/retire`,
    {
      force: Boolean(opts["force"]),
    },
  );
  if (opts["json"]) return printJson(result);
  const revoked = Number(result["revoked"]);
  console.log(
    `issuing CA ${id} retired${revoked > 0 ? `: ${revoked} certificate(s) it issued revoked (cessationOfOperation)` : ""}`,
  );
}

async function list(opts: Opts): Promise<void> {
  const config = configOf(opts);
  const view = await client(config, opts).call<PkiRows>("GET", "/v1/pki");
  if (opts["json"]) return printJson(view);
  const within = opts["expiring"] === undefined ? null : parseDuration(text(opts["expiring"]));
  if (opts["expiring"] !== undefined && within === null)
    throw new CliError("--expiring needs a duration with a unit, e.g. 30d", EXIT.usage);
  printPki(view, within, Date.now());
}

async function renewServer(opts: Opts): Promise<void> {
  const config = configOf(opts);
  const facts = await onDisk(config, opts, (ctx) => renewServerCertificate(ctx));
  console.log(
    `server certificate renewed: serial ${facts.serial}, valid until ${isoTime(facts.notAfter)}, names ${facts.names.join(", ")}`,
  );
  await reloadServer(config, opts);
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerCaCommands(program: Command): void {
  const common = (command: Command) =>
    command.option("--data <dir>", "data directory").option("--operator <name>", "operator credential to use", "admin");
  const ca = program.command("ca").description("issuing CAs: list, rollover (rotate, sign-issuing, activate), retire");
  common(
    ca.command("list").description("issuing CAs, root and server certificate, with expiry and what each vouches for"),
  )
    .option("--expiring <duration>", "only certificates that expire within this duration, e.g. 30d")
    .option("--json", "machine-readable output")
    .action(list);
  common(
    ca.command("rotate").description("make a new issuing CA under the same root (needs the root key unless --csr)"),
  )
    .option("--csr", "only make the new key and a CSR, for `ca sign-issuing` where the root key is kept")
    .option("--ca-key <where>", "where the new key is made: file or pkcs11 (default: config ca.key)")
    .option("--out <file>", "with --csr: also write the CSR here")
    .option("--days <n>", "lifetime of the new issuing CA (default 3650, never beyond the root)")
    .option("--hostname <name>", "extra server certificate name (repeatable)", collect, [])
    .action(rotate);
  ca.command("sign-issuing")
    .description("sign an issuing CA CSR with the root key (offline: files only, no server)")
    .option(
      "--root-key <path>",
      "the root CA key (PKCS#8 PEM, mode 0600), or pkcs11:<label> for a root key in the token",
    )
    .option("--root-cert <path>", "the root CA certificate")
    .option("--csr <file>", "the CSR `ca rotate --csr` wrote")
    .option("--out <file>", "where to write the certificate (default: stdout)")
    .option("--days <n>", "lifetime (default 3650, never beyond the root)")
    .option("--data <dir>", "data directory whose pkcs11 configuration names the token (pkcs11: keys only)")
    .action(signIssuing);
  common(
    ca
      .command("activate <certificate>")
      .description("install a signed issuing CA: it signs from now on, the old one retires"),
  )
    .option("--hostname <name>", "extra server certificate name (repeatable)", collect, [])
    .action(activate);
  common(ca.command("retire <id>").description("stop trusting a retiring CA once nothing it issued is valid"))
    .option("--force", "retire it anyway: what it issued and is still valid is revoked (cessationOfOperation)")
    .option("--json", "machine-readable output")
    .action(retire);
  const server = program.command("server-cert").description("the listeners' TLS certificate");
  common(
    server
      .command("renew")
      .description("new key and certificate from the active issuing CA, reloaded without a restart"),
  )
    .option("--hostname <name>", "extra server certificate name (repeatable)", collect, [])
    .action(renewServer);
}

/** SIGHUP: reload pki/ (what `ca activate` and `server-cert renew` ask over the admin API), logged and audited. */
export function onReloadSignal(running: RunningFleetgate, logger: Logger): void {
  process.on("SIGHUP", () => {
    reloadPki(
      {
        registry: running.registry,
        pki: running.pki,
        clock: systemClock,
        announce: { bus: running.revocation.bus, nodeId: running.nodeId },
      },
      "signal:SIGHUP",
    ).then(
      (result) => logger.info({ service: "pki", ...result }, "PKI reloaded (SIGHUP)"),
      (err: unknown) => logger.error({ service: "pki", err }, "PKI reload failed (SIGHUP); the previous PKI stays"),
    );
  });
}
