import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteRegistry } from "../../../src/adapters/sqlite/registry.js";
import { ERROR_CATALOGUE, type ErrorCode } from "../../../src/domain/errors.js";
import { registryFile } from "../../../src/main.js";
import type { AuditEntry } from "../../../src/ports.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { httpsRequest, type HttpsResponse } from "../../helpers/https.js";
import { bodyOf, rawTls, statusOf } from "../../helpers/raw-sockets.js";
import { allAudit } from "../../helpers/registry.js";

/**
 * Refusals anyone can provoke on the admin listener (no credential, a bad URL, oversized headers):
 * each is answered in the catalogue's JSON shape, refused auth is rate limited per address, and the
 * audit log accounts for every one of them — the first of an interval at once, the rest in one summary.
 */
const FLOOD = 30;
const BURST = 5;

/** Refusals an entry accounts for: itself, or the `details.count` its summary holds. */
const accounted = (entries: readonly AuditEntry[]) =>
  entries.reduce((sum, e) => sum + (typeof e.details["count"] === "number" ? e.details["count"] : 1), 0);

describe("admin listener: credential-less refusals", { timeout: 90_000 }, () => {
  let fg: TestFleetgate;
  let operator: { cert: string; key: string };
  /** The audit log after the server shut down (which writes every count still held). */
  let finalLog: AuditEntry[] = [];
  const answers: HttpsResponse[] = [];

  const admin = (path: string, credential: { cert?: string; key?: string } = {}) =>
    httpsRequest(`https://localhost:${fg.running.ports.admin}${path}`, { ca: fg.rootCaPem, ...credential });
  const ofAction = (entries: readonly AuditEntry[], action: string) => entries.filter((e) => e.action === action);

  beforeAll(async () => {
    fg = await startTestFleetgate({
      admin: {
        host: "127.0.0.1",
        port: 0,
        rateLimit: { perSecond: 0.01, burst: BURST },
        refusalAuditInterval: "1h", // one window for the whole test: its summary is written at shutdown
        headersTimeout: "500ms",
      },
    });
    const dir = join(fg.dataDir, "operators");
    operator = {
      cert: readFileSync(join(dir, "admin.crt"), "utf8"),
      key: readFileSync(join(dir, "admin.key"), "utf8"),
    };
  });
  afterAll(async () => {
    await fg?.running.close();
    if (fg) rmSync(fg.dataDir, { recursive: true, force: true });
  });

  it("audits the first refusal of an address before answering it", async () => {
    const first = await admin("/v1/devices?flood=0");
    answers.push(first);
    expect(first.status).toBe(401);
    const entries = ofAction(await allAudit(fg.running.registry), "admin.auth_failed");
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      actor: "address:127.0.0.1",
      details: { code: "operator_certificate_required", url: "/v1/devices?flood=0", detail: "no client certificate" },
    });
  });

  it(`answers ${BURST} refusals per burst, then 429 rate_limited with Retry-After`, async () => {
    for (let i = 1; i < FLOOD; i += 1) answers.push(await admin(`/v1/devices?flood=${i}`));
    const codes = answers.map((r) => r.json()["code"]);
    expect(codes.slice(0, BURST)).toEqual(Array(BURST).fill("operator_certificate_required"));
    expect(codes.slice(BURST)).toEqual(Array(FLOOD - BURST).fill("rate_limited"));
    for (const limited of answers.slice(BURST)) {
      expect(limited.status).toBe(429);
      expect(limited.json()).toEqual({ code: "rate_limited", message: ERROR_CATALOGUE.rate_limited.message });
      expect(Number(limited.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    }
    // Only the first was written at once: the flood became no more audit rows.
    expect(ofAction(await allAudit(fg.running.registry), "admin.auth_failed")).toHaveLength(1);
  });

  it("never limits an operator on the same address", async () => {
    const response = await admin("/v1/devices", operator);
    expect(response.status, response.body).toBe(200);
  });

  it("answers router and parser refusals as catalogue JSON", async () => {
    const expectJson = (status: number, body: unknown, code: ErrorCode) => {
      expect(status).toBe(ERROR_CATALOGUE[code].status);
      expect(body).toEqual({ code, message: ERROR_CATALOGUE[code].message });
    };
    const badEncoding = await admin("/v1/devices/%zz", operator);
    expectJson(badEncoding.status, badEncoding.json(), "malformed_request");
    // Audited before it was answered, as the first router refusal of this address.
    expect(ofAction(await allAudit(fg.running.registry), "admin.request_refused")).toMatchObject([
      { actor: "address:127.0.0.1", details: { code: "malformed_request", url: "/v1/devices/%zz" } },
    ]);
    const longId = await admin(`/v1/devices/${"a".repeat(200)}`, operator);
    expectJson(longId.status, longId.json(), "uri_too_long");

    const huge = `GET /v1/devices HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`;
    const big = await rawTls(fg.running.ports.admin, { ca: fg.rootCaPem, ...operator }, huge).closed;
    expectJson(statusOf(big.received), bodyOf(big.received), "headers_too_large");

    const slow = await rawTls(fg.running.ports.admin, { ca: fg.rootCaPem }, "GET /v1/devices HTTP/1.1\r\n").closed;
    expectJson(statusOf(slow.received), bodyOf(slow.received), "request_timeout");
  });

  it("after shutdown, the audit log accounts for every refusal exactly once", async () => {
    await fg.running.close();
    const registry = SqliteRegistry.open(registryFile(fg.dataDir));
    try {
      finalLog = await allAudit(registry);
    } finally {
      await registry.close();
    }
    const authFailed = ofAction(finalLog, "admin.auth_failed");
    expect(accounted(authFailed)).toBe(FLOOD);
    expect(authFailed).toHaveLength(2); // the first, and one summary of the other 29
    expect(authFailed[1]).toMatchObject({
      actor: "address:127.0.0.1",
      subject: null,
      details: {
        count: FLOOD - 1,
        codes: { operator_certificate_required: BURST - 1, rate_limited: FLOOD - BURST },
        firstUrl: "/v1/devices?flood=1",
        lastUrl: `/v1/devices?flood=${FLOOD - 1}`,
        since: expect.any(String),
        until: expect.any(String),
      },
    });
    const routerRefusals = ofAction(finalLog, "admin.request_refused");
    expect(accounted(routerRefusals)).toBe(4);
    expect(routerRefusals[1]!.details["codes"]).toEqual({ uri_too_long: 1, headers_too_large: 1, request_timeout: 1 });
  });
});
