import type { IncomingHttpHeaders } from "node:http";
import { request } from "node:https";
import { Limiter } from "./limiter.js";

export interface HttpsReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface HttpsCall {
  readonly method: "GET" | "POST";
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Client certificate and key (PEM) for mTLS; absent on first boot. */
  readonly cert?: string;
  readonly key?: string;
}

/**
 * HTTPS with a bound on requests in flight, shared by the whole fleet. Every request opens its
 * own TLS connection (no keep-alive agent): each simulated device is its own host, and the server
 * should pay for one handshake per device as it would in the field.
 */
export class HttpsClient {
  private readonly limiter: Limiter;

  constructor(
    private readonly caPem: string,
    concurrency: number,
    private readonly signal?: AbortSignal,
    private readonly timeoutMs = 15_000,
  ) {
    this.limiter = new Limiter(concurrency);
  }

  send(url: string, call: HttpsCall): Promise<HttpsReply> {
    return this.limiter.run(() => this.once(url, call));
  }

  private once(url: string, call: HttpsCall): Promise<HttpsReply> {
    const options = {
      method: call.method,
      headers: call.headers,
      ca: this.caPem,
      cert: call.cert,
      key: call.key,
      agent: false as const,
      signal: this.signal,
    };
    return new Promise((resolve, reject) => {
      const req = request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on("error", reject);
      req.end(call.body);
    });
  }
}
