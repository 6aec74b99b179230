import { get } from "node:http";
import { request } from "node:https";

export interface HttpsResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  json<T = Record<string, unknown>>(): T;
}

export interface HttpsOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  /** PEM trusted to verify the server. */
  readonly ca: string;
  /** Client certificate and key (PEM) for mTLS. */
  readonly cert?: string;
  readonly key?: string;
}

/** One request over a fresh TLS connection (no keep-alive agent), like a first-boot device. */
export function httpsRequest(url: string, options: HttpsOptions): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? "GET",
        headers: options.headers,
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: <T>() => JSON.parse(body) as T });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export function postJson(baseUrl: string, path: string, body: unknown, ca: string): Promise<HttpsResponse> {
  return httpsRequest(baseUrl + path, {
    method: "POST",
    ca,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** A plain-HTTP GET on loopback (the metrics and PKI listeners). */
export function httpGet(port: number, path: string): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers["content-type"]),
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    }).on("error", reject);
  });
}
