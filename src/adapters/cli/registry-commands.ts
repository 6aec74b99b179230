import type { Command } from "commander";
import { issueToken, TokenRequestError } from "../../app/issue-token.js";
import { tokenState } from "../../domain/bootstrap-token.js";
import { parseDuration } from "../../domain/duration.js";
import { loadConfig } from "../../config.js";
import { registryFile } from "../../main.js";
import { systemClock } from "../../ports.js";
import { SqliteRegistry } from "../sqlite/registry.js";
import { CliError, EXIT, isoTime, printJson, printTable } from "./output.js";

type Opts = Record<string, unknown>;

async function withRegistry<T>(opts: Opts, run: (registry: SqliteRegistry, profiles: Set<string>) => Promise<T>): Promise<T> {
  const config = loadConfig(opts["data"] ? { dataDir: opts["data"] } : {});
  const registry = SqliteRegistry.open(registryFile(config.dataDir));
  try {
    return await run(registry, new Set(Object.keys(config.profiles)));
  } finally {
    registry.close();
  }
}

function parseUses(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const uses = Number(raw);
  if (!Number.isInteger(uses) || uses < 1) throw new CliError("--uses must be a positive integer", EXIT.usage);
  return uses;
}

async function createToken(opts: Opts): Promise<void> {
  const ttlMs = parseDuration(String(opts["ttl"]));
  if (ttlMs === null) throw new CliError("--ttl must be a duration like 30m, 24h or 7d", EXIT.usage);
  await withRegistry(opts, async (registry, profiles) => {
    const request = {
      deviceId: opts["device"] as string | undefined,
      prefix: opts["prefix"] as string | undefined,
      uses: parseUses(opts["uses"]),
      ttlMs,
      profile: String(opts["profile"]),
      actor: "cli",
    };
    const issued = await issueToken({ registry, clock: systemClock, profiles }, request).catch((error: unknown) => {
      throw error instanceof TokenRequestError ? new CliError(error.message, EXIT.usage) : error;
    });
    const { record } = issued;
    if (opts["json"]) return printJson({ token: issued.token, id: record.id, expiresAt: isoTime(record.expiresAt), usesLeft: record.usesLeft });
    console.log(issued.token);
    console.error(`token ${record.id} for ${record.deviceId ?? `prefix ${record.prefix}* (${record.usesTotal} uses)`}, profile ${record.profile}, expires ${isoTime(record.expiresAt)}`);
    console.error("This token is shown once and stored only as a hash.");
  });
}

async function listTokens(opts: Opts): Promise<void> {
  await withRegistry(opts, async (registry) => {
    const now = Date.now();
    const rows = (await registry.listTokens()).map((t) => ({
      id: t.id,
      scope: t.deviceId ?? `${t.prefix}*`,
      profile: t.profile,
      uses: `${t.usesLeft}/${t.usesTotal}`,
      state: tokenState(t, now),
      expires: isoTime(t.expiresAt),
    }));
    if (opts["json"]) printJson(rows);
    else printTable(rows, ["id", "scope", "profile", "uses", "state", "expires"]);
  });
}

async function revokeToken(id: string, opts: Opts): Promise<void> {
  await withRegistry(opts, async (registry) => {
    const at = Date.now();
    const revoked = await registry.revokeToken(id, at, { actor: "cli", action: "token.revoked", subject: id, details: {} });
    if (!revoked) throw new CliError(`no active token ${id}`);
    console.log(`token ${id} revoked`);
  });
}

async function listDevices(opts: Opts): Promise<void> {
  await withRegistry(opts, async (registry) => {
    const rows = (await registry.listDevices()).map((d) => ({ id: d.id, role: d.role, status: d.status, created: isoTime(d.createdAt), revoked: isoTime(d.revokedAt) }));
    if (opts["json"]) printJson(rows);
    else printTable(rows, ["id", "role", "status", "created", "revoked"]);
  });
}

async function showDevice(id: string, opts: Opts): Promise<void> {
  await withRegistry(opts, async (registry) => {
    const device = await registry.getDevice(id);
    if (!device) throw new CliError(`no device ${id}`);
    const certificates = (await registry.listCertificates(id)).map((c) => ({
      serial: c.serial,
      status: c.status,
      notBefore: isoTime(c.notBefore),
      notAfter: isoTime(c.notAfter),
    }));
    if (opts["json"]) return printJson({ ...device, createdAt: isoTime(device.createdAt), revokedAt: isoTime(device.revokedAt), certificates });
    console.log(`device   ${device.id}\nrole     ${device.role} (profile ${device.profile})\nstatus   ${device.status}\ncreated  ${isoTime(device.createdAt)}`);
    printTable(certificates, ["serial", "status", "notBefore", "notAfter"]);
  });
}

export function registerRegistryCommands(program: Command): void {
  const token = program.command("token").description("bootstrap tokens");
  token
    .command("create")
    .description("create a bootstrap token (printed once)")
    .option("--device <id>", "the one device id this token may enroll")
    .option("--prefix <prefix>", "group token: any device id starting with this prefix")
    .option("--uses <n>", "group token: how many enrollments it allows")
    .option("--ttl <duration>", "lifetime of the token", "24h")
    .option("--profile <name>", "certificate profile", "device")
    .option("--data <dir>", "data directory")
    .option("--json", "machine-readable output")
    .action(createToken);
  token.command("list").option("--data <dir>").option("--json").action(listTokens);
  token.command("revoke <id>").option("--data <dir>").action(revokeToken);

  const device = program.command("device").description("enrolled devices");
  device.command("list").option("--data <dir>").option("--json").action(listDevices);
  device.command("show <id>").option("--data <dir>").option("--json").action(showDevice);
}
