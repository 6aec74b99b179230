import { request, type RequestOptions } from "node:https";
import { performance } from "node:perf_hooks";
import type { SecureContext, TLSSocket } from "node:tls";

export interface OnceRequest {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
  /**
   * What the client trusts for the server certificate: made once with tls.createSecureContext({ ca })
   * and shared, so the client does not rebuild its trust store per request. Sharing it does not
   * resume sessions: Node keeps no internal client session cache, every handshake is a full one.
   */
  readonly secureContext: SecureContext;
  readonly timeoutMs: number;
}

export interface OnceResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  /** From before the TCP connect to the last byte of the response: connect + TLS + request. */
  readonly latencyMs: number;
  /** True if TLS resumed a session (it should not: each device is a first boot). */
  readonly sessionReused: boolean;
}

/**
 * One request over a brand-new TCP + TLS connection (`agent: false`, so no keep-alive and no
 * session reuse), as a device on its first boot does. Rejects on network errors and timeouts.
 */
export function httpsOnce(options: OnceRequest): Promise<OnceResponse> {
  // `secureContext` reaches tls.connect at run time; @types/node's RequestOptions omits it.
  const requestOptions: RequestOptions & { secureContext: SecureContext } = {
    host: options.host,
    port: options.port,
    path: options.path,
    method: options.method,
    headers: options.headers,
    secureContext: options.secureContext,
    agent: false,
  };
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(requestOptions, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers["content-type"] ?? ""),
          body: Buffer.concat(chunks).toString("utf8"),
          latencyMs: performance.now() - started,
          sessionReused: (res.socket as TLSSocket).isSessionReused(),
        }),
      );
    });
    req.setTimeout(options.timeoutMs, () => req.destroy(new Error(`timed out after ${options.timeoutMs} ms`)));
    req.on("error", reject);
    req.end(options.body);
  });
}
