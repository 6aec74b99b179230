import type { Command } from "commander";
import { DEVICE_REVOCATION_REASONS } from "../../domain/revocation-reason.js";
import { adminOptions, clientFor as client } from "./admin-client.js";
import { CliError, EXIT, isoTime, printJson, printTable, text } from "./output.js";

type Opts = Record<string, unknown>;
type Row = Record<string, unknown>;

function show(opts: Opts, rows: Row[], columns: string[]): void {
  if (opts["json"]) printJson(rows);
  else printTable(rows, columns);
}

async function createToken(opts: Opts): Promise<void> {
  const uses = opts["uses"] === undefined ? undefined : Number(opts["uses"]);
  if (uses !== undefined && (!Number.isInteger(uses) || uses < 1))
    throw new CliError("--uses must be a positive integer", EXIT.usage);
  const body = { deviceId: opts["device"], prefix: opts["prefix"], uses, ttl: opts["ttl"], profile: opts["profile"] };
  const issued = await client(opts).call<Row>("POST", "/v1/tokens", body);
  if (opts["json"]) return printJson(issued);
  console.log(issued["token"]);
  const scope = issued["deviceId"] ?? `prefix ${String(issued["prefix"])}* (${String(issued["usesLeft"])} uses)`;
  console.error(
    `token ${String(issued["id"])} for ${text(scope)}, profile ${String(issued["profile"])}, expires ${String(issued["expiresAt"])}`,
  );
  console.error("This token is shown once and stored only as a hash.");
}

async function listTokens(opts: Opts): Promise<void> {
  const tokens = await client(opts).call<Row[]>("GET", "/v1/tokens");
  const rows = tokens.map((t) => ({
    id: t["id"],
    scope: t["deviceId"] ?? `${String(t["prefix"])}*`,
    profile: t["profile"],
    uses: `${String(t["usesLeft"])}/${String(t["usesTotal"])}`,
    state: t["state"],
    expires: isoTime(t["expiresAt"] as number),
  }));
  show(opts, rows, ["id", "scope", "profile", "uses", "state", "expires"]);
}

async function listDevices(opts: Opts): Promise<void> {
  const query = new URLSearchParams();
  if (opts["status"]) query.set("status", text(opts["status"]));
  if (opts["online"]) query.set("online", "true");
  if (opts["expiring"]) query.set("expiring", text(opts["expiring"]));
  const devices = await client(opts).all<Row>(`/v1/devices?${query}`);
  if (opts["json"]) return printJson(devices);
  const rows = devices.map((d) => ({
    ...d,
    created: isoTime(d["createdAt"] as number),
    revoked: isoTime(d["revokedAt"] as number | null),
    online: d["online"] ? "yes" : "no",
    expiresIn: formatMs(d["certificateExpiresIn"] as number | null),
  }));
  printTable(rows, ["id", "role", "status", "online", "expiresIn", "created", "revoked"]);
}

function formatMs(ms: number | null): string | null {
  if (ms === null) return null;
  return ms < 0 ? "expired" : `${Math.floor(ms / 86_400_000)}d${Math.floor((ms % 86_400_000) / 3_600_000)}h`;
}

async function showDevice(id: string, opts: Opts): Promise<void> {
  const device = await client(opts).call<Row>("GET", `/v1/devices/${encodeURIComponent(id)}`);
  if (opts["json"]) return printJson(device);
  const sessions = device["sessions"] as Row[];
  console.log(
    `device   ${String(device["id"])}\nrole     ${String(device["role"])} (profile ${String(device["profile"])})\nstatus   ${String(device["status"])}`,
  );
  console.log(
    `created  ${isoTime(device["createdAt"] as number)}\nonline   ${sessions.length ? sessions.map((s) => `since ${String(s["connectedAt"])} from ${String(s["address"])}`).join("; ") : "no"}`,
  );
  const certificates = (device["certificates"] as Row[]).map((c) => ({
    ...c,
    notAfter: isoTime(c["notAfter"] as number),
    revoked: isoTime(c["revokedAt"] as number | null),
  }));
  printTable(certificates, ["serial", "status", "notAfter", "revoked", "revocationReason"]);
}

async function revokeDevice(id: string, opts: Opts): Promise<void> {
  const result = await client(opts).call<Row>("POST", `/v1/devices/${encodeURIComponent(id)}/revoke`, {
    reason: opts["reason"],
  });
  if (opts["json"]) return printJson(result);
  const serials = result["serials"] as string[];
  console.log(
    `device ${id} revoked (${String(result["reason"])}): ${serials.length} certificate(s), ${String(result["sessionsClosed"])} live session(s) closed${result["alreadyRevoked"] ? " (it was already revoked)" : ""}`,
  );
}

async function resetDevice(id: string, opts: Opts): Promise<void> {
  const result = await client(opts).call<Row>("POST", `/v1/devices/${encodeURIComponent(id)}/reset`, {});
  if (!result["reset"]) throw new CliError(`device ${id} is not revoked; nothing to reset`);
  console.log(`device ${id} reset: it may enroll again with a new token`);
}

export function registerRegistryCommands(program: Command): void {
  const common = adminOptions;
  const token = program.command("token").description("bootstrap tokens");
  common(token.command("create").description("create a bootstrap token (printed once)"))
    .option("--device <id>", "the one device id this token may enroll")
    .option("--prefix <prefix>", "group token: any new device id starting with this prefix")
    .option("--uses <n>", "group token: how many enrollments it allows")
    .option("--ttl <duration>", "lifetime of the token", "24h")
    .option("--profile <name>", "certificate profile", "device")
    .action(createToken);
  common(token.command("list").description("list tokens (never the tokens themselves)")).action(listTokens);
  common(token.command("revoke <id>").description("revoke a token")).action(async (id: string, opts: Opts) => {
    await client(opts).call("POST", `/v1/tokens/${encodeURIComponent(id)}/revoke`, {});
    console.log(`token ${id} revoked`);
  });

  const device = program.command("device").description("enrolled devices");
  common(device.command("list").description("list devices"))
    .option("--status <status>", "active or revoked")
    .option("--online", "only devices connected now")
    .option("--expiring <duration>", "only devices whose certificate expires within this duration, e.g. 7d")
    .action(listDevices);
  common(device.command("show <id>").description("a device, its certificates and live sessions")).action(showDevice);
  common(
    device.command("revoke <id>").description("revoke a device: its certificates, live sessions, future enrollments"),
  )
    .option("--reason <reason>", `RFC 5280 reason: ${DEVICE_REVOCATION_REASONS.join(", ")}`, "unspecified")
    .action(revokeDevice);
  common(device.command("reset <id>").description("let a revoked device enroll again (with a new token)")).action(
    resetDevice,
  );
}
