import type { Command } from "commander";
import { loadConfig } from "../../config.js";
import { newKeyAndCsr } from "../shared/local-credential.js";
import {
  assertNoOperatorCredential,
  operatorPaths,
  writeOperatorCredential,
} from "../../../provisioning/operator-credential.js";
import { adminOptions, clientFor as client } from "./admin-client.js";
import { auditCheckpoint, auditVerify } from "./audit-commands.js";
import { p12Password, registerOperatorExport, writeOperatorP12 } from "./pkcs12-output.js";
import { CliError, EXIT, isoTime, printJson, printTable, text } from "./output.js";

type Opts = Record<string, unknown>;
type Row = Record<string, unknown>;

function configOf(opts: Opts) {
  return loadConfig(opts["data"] ? { dataDir: opts["data"] } : {});
}

async function auditList(opts: Opts): Promise<void> {
  const entries = await client(opts).call<Row[]>(
    "GET",
    `/v1/audit?after=${Number(opts["after"] ?? 0)}&limit=${Number(opts["limit"] ?? 100)}`,
  );
  if (opts["json"]) return printJson(entries);
  printTable(
    entries.map((e) => ({ ...e, at: isoTime(e["at"] as number), details: JSON.stringify(e["details"]) })),
    ["seq", "at", "actor", "action", "subject", "details"],
  );
}

async function aclExplain(deviceId: string, action: string, topic: string, opts: Opts): Promise<void> {
  if (action !== "publish" && action !== "subscribe")
    throw new CliError("action must be publish or subscribe", EXIT.usage);
  const query = new URLSearchParams({
    device: deviceId,
    action,
    topic,
    ...(opts["role"] ? { role: text(opts["role"]) } : {}),
  });
  const result = await client(opts).call<{ allowed: boolean; explanation: string }>("GET", `/v1/acl/explain?${query}`);
  console.log(result.explanation);
  if (!result.allowed) process.exitCode = EXIT.failed;
}

/** The key is made here and never leaves this host; the server signs a CSR for it. */
async function operatorAdd(name: string, opts: Opts): Promise<void> {
  const config = configOf(opts);
  const outDir = (opts["out"] as string | undefined) ?? operatorPaths(config.dataDir, name).dir;
  // Checked before the server issues anything: otherwise a second `operator add NAME` records an
  // active operator certificate whose key is then thrown away.
  assertNoOperatorCredential(outDir, name);
  const password = opts["p12"] ? await p12Password(opts) : null; // asked before anything is issued
  const { keyPem, csrDer } = await newKeyAndCsr(name);
  const issued = await client(opts).call<Row>("POST", "/v1/operators", {
    name,
    csr: Buffer.from(csrDer).toString("base64"),
  });
  const files = writeOperatorCredential(outDir, name, keyPem, String(issued["certificate"]));
  const p12 =
    password === null
      ? ""
      : `, ${await writeOperatorP12(config.dataDir, name, { keyPem, certificatePem: String(issued["certificate"]) }, `${outDir}/${name}.p12`, password)}`;
  console.log(
    `operator ${name} added (serial ${String(issued["serial"])}, valid until ${String(issued["notAfter"])}): ${files.cert}, ${files.key}${p12}`,
  );
}

export function registerAdminCommands(program: Command): void {
  const common = adminOptions;
  const audit = program.command("audit").description("the hash-chained audit log");
  common(audit.command("list").description("list audit entries"))
    .option("--after <seq>", "entries after this sequence number")
    .option("--limit <n>", "at most this many")
    .action(auditList);
  common(audit.command("verify").description("verify every hash link; exit 1 if any entry was edited or deleted"))
    .option("--checkpoint <file>", "also check the log against a signed checkpoint (detects a truncated tail)")
    .action(auditVerify);
  common(audit.command("checkpoint").description("a statement of the log's head, signed by the issuing CA"))
    .option("--out <file>", "write it to this file (default: print it)")
    .action(auditCheckpoint);

  const acl = program.command("acl").description("topic permissions");
  common(
    acl
      .command("explain <deviceId> <action> <topic>")
      .description("may a device publish to a topic / subscribe to a filter, and which rule decides"),
  )
    .option("--role <role>", "explain for this role instead of the device's enrolled role")
    .action(aclExplain);

  const operator = program.command("operator").description("operator credentials for the admin API");
  common(operator.command("add <name>").description("issue an operator credential (key made locally)"))
    .option("--out <dir>", "where to write <name>.crt and <name>.key")
    .option("--p12", "also write <name>.p12 (password-protected PKCS#12) to import into a browser")
    .option("--password-file <file>", "read the .p12 password from this file (else it is asked on the terminal)")
    .action(operatorAdd);
  registerOperatorExport(operator);
  common(operator.command("list").description("list operators")).action(async (opts: Opts) => {
    const rows = await client(opts).call<Row[]>("GET", "/v1/operators");
    if (opts["json"]) return printJson(rows);
    printTable(
      rows.map((r) => ({
        ...r,
        created: isoTime(r["createdAt"] as number),
        notAfter: isoTime(r["notAfter"] as number),
      })),
      ["name", "serial", "status", "created", "notAfter"],
    );
  });
  common(operator.command("revoke <name>").description("revoke an operator's credentials")).action(
    async (name: string, opts: Opts) => {
      await client(opts).call("POST", `/v1/operators/${encodeURIComponent(name)}/revoke`, {});
      console.log(`operator ${name} revoked`);
    },
  );
}
