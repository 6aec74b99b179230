import type { ClientRequest } from "node:http";
import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_EVENT_STREAMS } from "../../../src/adapters/http/admin-events.routes.js";
import { connectDevice, enrollDevice, type EnrolledDevice } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { httpsRequest } from "../../helpers/https.js";
import { operatorPem } from "../../console/console-fixture.js";

/** An open `GET /v1/events` stream: the raw text so far, and a way to wait for more. */
interface EventStream {
  readonly status: number;
  text(): string;
  until(needle: string): Promise<string>;
  close(): void;
}

function openEvents(fg: TestFleetgate): Promise<EventStream> {
  const { cert, key } = operatorPem(fg);
  return new Promise((resolve, reject) => {
    let text = "";
    const waiters = new Set<() => void>();
    const req: ClientRequest = request(
      `https://localhost:${fg.running.ports.admin}/v1/events`,
      { cert, key, ca: fg.rootCaPem, agent: false, headers: { accept: "text/event-stream" } },
      (res) => {
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => ((text += chunk), waiters.forEach((w) => w())));
        resolve({
          status: res.statusCode ?? 0,
          text: () => text,
          until: (needle) =>
            new Promise((done) => {
              const check = () => text.includes(needle) && (waiters.delete(check), done(text));
              waiters.add(check);
              check();
            }),
          close: () => req.destroy(),
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("admin API for the console: events, overview, OpenAPI, PKCS#12", { timeout: 60_000 }, () => {
  let fg: TestFleetgate;
  let dev1: EnrolledDevice;
  const admin = (path: string, options: { method?: string; body?: string; headers?: Record<string, string> } = {}) => {
    const { cert, key } = operatorPem(fg);
    return httpsRequest(`https://localhost:${fg.running.ports.admin}${path}`, {
      ca: fg.rootCaPem,
      cert: cert.toString(),
      key: key.toString(),
      ...options,
    });
  };

  beforeAll(async () => {
    fg = await startTestFleetgate();
    dev1 = await enrollDevice(fg, "dev-1");
  });
  afterAll(async () => {
    await fg?.close(); // with streams still open: close must not hang on them
    dev1?.cleanup();
  });

  it("GET /v1/events streams fleet events as Server-Sent Events", async () => {
    const stream = await openEvents(fg);
    expect(stream.status).toBe(200);
    await stream.until(": connected");
    const client = await connectDevice(fg, dev1);
    await stream.until("event: session.opened");
    const revoked = await admin("/v1/devices/dev-1/revoke", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"reason":"keyCompromise"}',
    });
    expect(revoked.status).toBe(200);
    const text = await stream.until("event: device.revoked");
    const data = /event: device\.revoked\ndata: (.*)\n\n/.exec(text)?.[1];
    expect(JSON.parse(data!)).toMatchObject({ type: "device.revoked", deviceId: "dev-1", reason: "keyCompromise" });
    expect(JSON.parse(data!).at).toMatch(/^\d{4}-\d\d-\d\dT/);
    await stream.until("event: session.closed");
    await client.endAsync(true).catch(() => undefined);
    stream.close();
  });

  it(`at most ${MAX_EVENT_STREAMS} event streams at once; one more is 429 rate_limited`, async () => {
    const streams = await Promise.all(Array.from({ length: MAX_EVENT_STREAMS }, () => openEvents(fg)));
    expect(streams.every((s) => s.status === 200)).toBe(true);
    const refused = await admin("/v1/events");
    expect(refused.status).toBe(429);
    expect(refused.json()).toMatchObject({ code: "rate_limited" });
    for (const s of streams.slice(1)) s.close(); // the first one stays open through fg.close()
  });

  it("GET /v1/overview: counts, the rate window, refusals by reason; every answer has the security headers", async () => {
    await httpsRequest(`https://localhost:${fg.running.ports.admin}/v1/overview`, { ca: fg.rootCaPem }); // a refusal
    const overview = await admin("/v1/overview");
    expect(overview.status).toBe(200);
    expect(overview.json()).toMatchObject({
      devices: { total: 1, revoked: 1, active: 0, online: 0 },
      certificatesExpiring: { within7d: 0, within30d: 0 },
      activity: { stepMs: 5000, windowMs: 900_000, points: expect.any(Array) },
      refusals: { httpRefusals: { "admin:operator_certificate_required": 1 } },
    });
    expect(overview.headers["content-security-policy"]).toContain("default-src 'self'");
    expect(overview.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(overview.headers["x-frame-options"]).toBe("DENY");
    expect(overview.headers["cache-control"]).toBe("no-store");
  });

  it("/v1/openapi.json documents every admin route from the zod schemas; zod still validates", async () => {
    const doc = (await admin("/v1/openapi.json")).json<{ paths: Record<string, Record<string, unknown>> }>();
    for (const path of [
      "/v1/devices",
      "/v1/devices/{id}/revoke",
      "/v1/tokens",
      "/v1/audit/verify",
      "/v1/operators/p12",
      "/v1/events",
      "/v1/overview",
    ])
      expect(Object.keys(doc.paths), path).toContain(path);
    const list = doc.paths["/v1/devices"]!["get"] as { parameters: { name: string }[] };
    expect(list.parameters.map((p) => p.name).sort()).toEqual([
      "after",
      "expiring",
      "limit",
      "online",
      "prefix",
      "status",
    ]);
    const bad = await admin("/v1/devices?limit=lots");
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ code: "malformed_request", detail: expect.stringContaining("limit") });
  });

  it("POST /v1/operators/p12 answers a PKCS#12 for a new operator; a short password issues nothing", async () => {
    const json = { "content-type": "application/json" };
    const short = await admin("/v1/operators/p12", {
      method: "POST",
      headers: json,
      body: '{"name":"eve","password":"short"}',
    });
    expect(short.status).toBe(400);
    expect((await fg.running.registry.listOperators()).map((o) => o.name)).toEqual(["admin"]);
    const made = await new Promise<{ status: number; type: string | undefined; body: Buffer }>((resolve, reject) => {
      const { cert, key } = operatorPem(fg);
      const req = request(
        `https://localhost:${fg.running.ports.admin}/v1/operators/p12`,
        { method: "POST", cert, key, ca: fg.rootCaPem, agent: false, headers: json },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, type: res.headers["content-type"], body: Buffer.concat(chunks) }),
          );
        },
      );
      req.on("error", reject);
      req.end('{"name":"eve","password":"long enough password"}');
    });
    expect(made.status).toBe(201);
    expect(made.type).toBe("application/x-pkcs12");
    const whoami = await new Promise<string>((resolve, reject) => {
      const req = request(
        `https://localhost:${fg.running.ports.admin}/v1/whoami`,
        { pfx: made.body, passphrase: "long enough password", ca: fg.rootCaPem, agent: false },
        (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve(body));
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(JSON.parse(whoami)).toEqual({ operator: "eve" });
  });
});
