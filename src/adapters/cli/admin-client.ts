import { existsSync, readFileSync } from "node:fs";
import { request } from "node:https";
import type { Config } from "../../config.js";
import { readRuntimeInfo } from "../../runtime-file.js";
import { pkiPaths, readPrivateKeyPem } from "../shared/key-files.js";
import { operatorPaths } from "../../../provisioning/operator-credential.js";
import { CliError, EXIT, text } from "./output.js";

/**
 * The CLI's way into a running server: the admin API over mTLS with an operator credential from
 * the data dir, so that what the CLI does (a revocation above all) reaches the live broker.
 */
export class AdminClient {
  private constructor(
    private readonly baseUrl: string,
    private readonly tls: { ca: string; cert: string; key: string },
  ) {}

  static fromConfig(config: Config, operator = "admin"): AdminClient {
    const credential = operatorPaths(config.dataDir, operator);
    if (!existsSync(credential.key))
      throw new CliError(
        `no operator credential ${credential.key}; run \`fleetgate init\` or \`fleetgate operator add\``,
        EXIT.usage,
      );
    const runtime = readRuntimeInfo(config.dataDir);
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
