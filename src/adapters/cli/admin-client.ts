import { existsSync, readFileSync } from "node:fs";
import { request } from "node:https";
import { resolve } from "node:path";
import type { Command } from "commander";
import { loadConfig, type Config } from "../../config.js";
import { liveServers, readRuntimeInfo, type RuntimeInfo } from "../../runtime-file.js";
import { pkiPaths, readPrivateKeyPem } from "../shared/key-files.js";
import { operatorPaths } from "../../../provisioning/operator-credential.js";
import { CliError, EXIT, text } from "./output.js";

/** Whose credential the CLI presents: a named one in `<data>/operators/`, or explicit files. */
export type OperatorCredential = { readonly operator: string } | { readonly cert: string; readonly key: string };

/** `--operator NAME`, or `--cert FILE --key FILE` (both, and not with --operator); default `admin`. */
export function credentialFrom(opts: Record<string, unknown>): OperatorCredential {
  const { operator, cert, key } = opts as { operator?: string; cert?: string; key?: string };
  if (cert === undefined && key === undefined) return { operator: operator ?? "admin" };
  if (operator !== undefined) throw new CliError("give either --operator or --cert/--key, not both", EXIT.usage);
  if (cert === undefined || key === undefined) throw new CliError("--cert and --key go together", EXIT.usage);
  return { cert: resolve(cert), key: resolve(key) };
}

/** The options every admin-API command takes. */
export function adminOptions(command: Command): Command {
  return command
    .option("--data <dir>", "data directory")
    .option("--operator <name>", "operator credential in <data>/operators/ (default admin)")
    .option("--cert <file>", "operator certificate (PEM) anywhere, with --key")
    .option("--key <file>", "its private key (PEM, mode 0600)")
    .option("--node <id>", "cluster mode: talk to this node (default: any live node of the data dir)")
    .option("--json", "machine-readable output");
}

/** The admin client for a command's options: its data dir and credential. */
export function clientFor(opts: Record<string, unknown>): AdminClient {
  const config = loadConfig(opts["data"] ? { dataDir: opts["data"] } : {});
  return AdminClient.fromConfig(config, credentialFrom(opts), opts["node"] as string | undefined);
}

/**
 * The CLI's way into a running server: the admin API over mTLS with an operator credential (from
 * the data dir, or files given), so that what the CLI does (a revocation above all) reaches the live broker.
 */
export class AdminClient {
  private constructor(
    private readonly baseUrl: string,
    private readonly tls: { ca: string; cert: string; key: string },
  ) {}

  static fromConfig(config: Config, who: OperatorCredential | string = "admin", node?: string): AdminClient {
    const credential = credentialFiles(config, typeof who === "string" ? { operator: who } : who);
    const runtime = runtimeOf(config, node);
    const host = loopbackFor(runtime?.adminHost ?? config.admin.host);
    const port = runtime?.ports["admin"] ?? config.admin.port;
    const tls = {
      ca: readFileSync(pkiPaths(config.dataDir).rootCert, "utf8"),
      cert: readFileSync(credential.cert, "utf8"),
      key: readOperatorKey(credential.key),
    };
    return new AdminClient(`https://${host}:${port}`, tls);
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.exchange<T>(method, path, body)).body;
  }

  /** Every page of a cursor-paginated listing (`x-next-cursor`), concatenated. */
  async all<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    for (let next: string | null = path; next !== null;) {
      const page: { body: T[]; cursor: string | null } = await this.exchange<T[]>("GET", next);
      items.push(...page.body);
      next = page.cursor === null ? null : withCursor(path, page.cursor);
    }
    return items;
  }

  private async exchange<T>(method: string, path: string, body?: unknown): Promise<{ body: T; cursor: string | null }> {
    const response = await this.send(method, path, body).catch((error: NodeJS.ErrnoException) => {
      throw new CliError(
        `cannot reach the admin API at ${this.baseUrl} (${error.code ?? error.message}); is \`fleetgate serve\` running?`,
        EXIT.unreachable,
      );
    });
    const parsed = parseBody(response.body);
    if (response.status >= 400) throw new CliError(refusalMessage(response.status, parsed, response.body), EXIT.failed);
    return { body: parsed as T, cursor: response.cursor };
  }

  private send(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: string; cursor: string | null }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = payload === undefined ? {} : { "content-type": "application/json" };
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.baseUrl}${path}`,
        { method, headers, ...this.tls, servername: "localhost", agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          const cursor = typeof res.headers["x-next-cursor"] === "string" ? res.headers["x-next-cursor"] : null;
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), cursor }),
          );
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  }
}

function credentialFiles(config: Config, who: OperatorCredential): { cert: string; key: string } {
  if ("operator" in who) {
    const files = operatorPaths(config.dataDir, who.operator);
    if (!existsSync(files.key))
      throw new CliError(
        `no operator credential ${files.key}; run \`fleetgate init\` or \`fleetgate operator add\``,
        EXIT.usage,
      );
    return files;
  }
  for (const file of [who.cert, who.key])
    if (!existsSync(file)) throw new CliError(`no such file ${file} (--cert/--key)`, EXIT.usage);
  return who;
}

/** The node the CLI talks to: the one named, else the first live one (any node answers for the cluster). */
function runtimeOf(config: Config, node: string | undefined): RuntimeInfo | undefined {
  if (node === undefined) return liveServers(config.dataDir)[0];
  const info = readRuntimeInfo(config.dataDir, node);
  if (info === null) throw new CliError(`no live node ${node} in ${config.dataDir}/run`, EXIT.unreachable);
  return info;
}

function withCursor(path: string, cursor: string): string {
  const [base, query = ""] = path.split("?") as [string, string?];
  const params = new URLSearchParams(query);
  params.set("after", cursor);
  return `${base}?${params}`;
}

function parseBody(body: string): Record<string, unknown> {
  try {
    return body ? (JSON.parse(body) as Record<string, unknown>) : {};
  } catch {
    throw new CliError(`the admin API answered with something that is not JSON: ${body.slice(0, 200)}`, EXIT.failed);
  }
}

/** The operator key gets the same rule as the CA's: readable by others means leaked, so refuse. */
function readOperatorKey(path: string): string {
  try {
    return readPrivateKeyPem(path);
  } catch (error) {
    throw new CliError((error as Error).message, EXIT.usage);
  }
}

/**
 * `code: detail` when the admin API said precisely what is wrong (it does for an authenticated
 * operator), else `code: message` (the catalogue's generic sentence).
 */
export function refusalMessage(status: number, parsed: Record<string, unknown>, raw: string): string {
  const why = typeof parsed["detail"] === "string" ? parsed["detail"] : text(parsed["message"] ?? raw);
  return `${text(parsed["code"] ?? status)}: ${why}`;
}

function loopbackFor(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}
