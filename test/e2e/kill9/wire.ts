import { get } from "node:http";
import { request, type Agent } from "node:https";

/**
 * One request with a deadline, classified the way a client that is about to lose its server must
 * think about it: answered (the server's word is final), never reached (the connection was refused,
 * so nothing happened), or cut (reset, hang-up or deadline mid-exchange: the server may have acted).
 */
export type Exchange =
  | { readonly kind: "answered"; readonly status: number; readonly body: string }
  | { readonly kind: "unsent" }
  | { readonly kind: "cut"; readonly error: string };

export interface WireRequest {
  readonly method: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** PEM trusted to verify the server; client certificate and key for mTLS. */
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
  readonly timeoutMs: number;
  /** A keep-alive agent whose connection is already through the handshake; default: a fresh connection. */
  readonly agent?: Agent;
}

export function exchange(url: string, options: WireRequest): Promise<Exchange> {
  return new Promise((resolve) => {
    const req = request(url, {
      method: options.method,
      headers: options.headers,
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      agent: options.agent ?? false,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        resolve({ kind: "answered", status: res.statusCode ?? 0, body });
      });
      res.on("error", (error) => resolve({ kind: "cut", error: error.message }));
      res.on("aborted", () => resolve({ kind: "cut", error: "response aborted" }));
    });
    req.on("error", (error: NodeJS.ErrnoException) =>
      resolve(error.code === "ECONNREFUSED" ? { kind: "unsent" } : { kind: "cut", error: error.message }),
    );
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** The JSON error code of a refusal, or the status when the body is not one. */
export function refusalCode(answer: { readonly status: number; readonly body: string }): string {
  try {
    const code = (JSON.parse(answer.body) as { code?: unknown }).code;
    return typeof code === "string" ? code : `http_${answer.status}`;
  } catch {
    return `http_${answer.status}`;
  }
}

/** Plain-HTTP GET of binary content (a DER CRL from the PKI listener), with a deadline. */
export function getBytes(port: number, path: string, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = get({ host: "127.0.0.1", port, path, agent: false, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        res.statusCode === 200
          ? resolve(Buffer.concat(chunks))
          : reject(new Error(`GET ${path}: HTTP ${res.statusCode}`)),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}
