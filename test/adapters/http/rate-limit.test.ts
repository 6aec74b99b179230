import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opensslCsr, startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { httpsRequest, postJson, type HttpsResponse } from "../../helpers/https.js";
import { registryCounts } from "../../helpers/registry.js";

/*
 * Refill rates are tiny (one token per 100 s) so that no refill can happen while a test runs,
 * however slow the machine: the outcome depends only on the request count, never on timing.
 */
const SLOW = 0.01;
const GENEROUS = { perSecond: 10_000, burst: 10_000 };

function expectRateLimited(res: HttpsResponse): number {
  expect({ status: res.status, body: res.json() }).toEqual({
    status: 429,
    body: { code: "rate_limited", message: expect.any(String) },
  });
  const retryAfter = res.headers["retry-after"];
  expect(retryAfter).toMatch(/^[1-9][0-9]*$/); // RFC 9110 §10.2.3: delay-seconds
  return Number(retryAfter);
}

describe("per source address", () => {
  let fg: TestFleetgate;
  beforeAll(async () => {
    fg = await startTestFleetgate({
      enroll: {
        host: "127.0.0.1",
        port: 0,
        rateLimit: { perAddress: { perSecond: SLOW, burst: 3 }, perToken: GENEROUS },
      },
    });
  });
  afterAll(async () => fg?.close());

  it("allows the burst, then answers 429 rate_limited with Retry-After, on every route", async () => {
    const get = () => httpsRequest(`${fg.enrollUrl}/.well-known/est/cacerts`, { ca: fg.rootCaPem });
    for (let i = 0; i < 3; i += 1) expect((await get()).status).toBe(200);
    const retryAfter = expectRateLimited(await get());
    // One token comes back after 1/SLOW = 100 s.
    expect(retryAfter).toBeGreaterThan(90);
    expect(retryAfter).toBeLessThanOrEqual(100);

    // The limit is per address, not per route: enrollment is refused before anything is judged.
    const token = await fg.token({ deviceId: "rl-addr" });
    const before = await registryCounts(fg.running.registry);
    expectRateLimited(
      await postJson(fg.enrollUrl, "/v1/enroll", { token, csr: opensslCsr("/CN=rl-addr").csrPem }, fg.rootCaPem),
    );
    expectRateLimited(await httpsRequest(`${fg.enrollUrl}/no/such/path`, { ca: fg.rootCaPem }));
    expect(await registryCounts(fg.running.registry)).toEqual(before);
  });
});

describe("per token", () => {
  let fg: TestFleetgate;
  beforeAll(async () => {
    fg = await startTestFleetgate({
      enroll: {
        host: "127.0.0.1",
        port: 0,
        rateLimit: { perAddress: GENEROUS, perToken: { perSecond: SLOW, burst: 2 } },
      },
    });
  });
  afterAll(async () => fg?.close());

  const enroll = (token: string, cn: string) =>
    postJson(fg.enrollUrl, "/v1/enroll", { token, csr: opensslCsr(`/CN=${cn}`).csrPem }, fg.rootCaPem);

  it("limits requests per token over /v1/enroll, whatever their outcome; other tokens are unaffected", async () => {
    const group = await fg.token({ prefix: "rl-tok-", uses: 10 });
    expect((await enroll(group, "rl-tok-1")).status).toBe(201);
    expect((await enroll(group, "other-1")).status).toBe(403); // refused requests count too
    const retryAfter = expectRateLimited(await enroll(group, "rl-tok-2"));
    expect(retryAfter).toBeGreaterThan(90);
    expect(retryAfter).toBeLessThanOrEqual(100);
    expect(await fg.running.registry.getDevice("rl-tok-2")).toBeUndefined();

    const other = await fg.token({ deviceId: "rl-other" });
    expect((await enroll(other, "rl-other")).status).toBe(201);
  });

  it("limits guessing with one wrong token as well", async () => {
    const guess = `fgt_${"G".repeat(43)}`;
    expect((await enroll(guess, "rl-guess")).status).toBe(401);
    expect((await enroll(guess, "rl-guess")).status).toBe(401);
    expectRateLimited(await enroll(guess, "rl-guess"));
  });

  it("applies to EST simpleenroll, keyed by the Basic password", async () => {
    const token = await fg.token({ prefix: "rl-est-", uses: 10 });
    const body = () => opensslCsr("/CN=rl-est-1").csrPem.replace(/-----[A-Z ]+-----/g, "");
    const est = () =>
      httpsRequest(`${fg.enrollUrl}/.well-known/est/simpleenroll`, {
        method: "POST",
        ca: fg.rootCaPem,
        headers: {
          "content-type": "application/pkcs10",
          authorization: `Basic ${Buffer.from(`rl-est-1:${token}`).toString("base64")}`,
        },
        body: body(),
      });
    expect((await est()).status).toBe(200);
    expect((await est()).status).toBe(403); // device_exists: a group token cannot enroll rl-est-1 twice
    expectRateLimited(await est());
  });
});
