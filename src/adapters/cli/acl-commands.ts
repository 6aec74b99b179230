import type { Command } from "commander";
import { explainAcl } from "../../domain/acl.js";
import { loadConfig } from "../../config.js";
import { registryFile } from "../../main.js";
import { SqliteRegistry } from "../sqlite/registry.js";
import { CliError, EXIT } from "./output.js";

type Opts = Record<string, unknown>;

/** `acl explain`: the verdict the broker would give, and the rule that decided it. Exit 0 allow, 1 deny. */
async function explain(deviceId: string, action: string, topic: string, opts: Opts): Promise<void> {
  if (action !== "publish" && action !== "subscribe") throw new CliError("action must be publish or subscribe", EXIT.usage);
  const config = loadConfig(opts["data"] ? { dataDir: opts["data"] } : {});
  let role = opts["role"] as string | undefined;
  if (role === undefined) {
    const registry = SqliteRegistry.open(registryFile(config.dataDir));
    try {
      role = (await registry.getDevice(deviceId))?.role;
    } finally {
      registry.close();
    }
  }
  if (role === undefined) throw new CliError(`no device ${deviceId} in the registry; pass --role to explain for a role`, EXIT.failed);
  const line = explainAcl(config.acl, role, deviceId, action, topic);
  console.log(line);
  if (!line.startsWith("ALLOW")) process.exitCode = EXIT.failed;
}

export function registerAclCommands(program: Command): void {
  const acl = program.command("acl").description("topic permissions");
  acl
    .command("explain <deviceId> <action> <topic>")
    .description("explain whether a device may publish to a topic or subscribe to a filter")
    .option("--role <role>", "explain for this role instead of the device's enrolled role")
    .option("--data <dir>", "data directory")
    .action(explain);
}
