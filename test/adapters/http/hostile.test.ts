import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { derToPem } from "../../../src/adapters/shared/pem.js";
import { x509 } from "../../../src/adapters/shared/x509.js";
import { formatToken, hashToken } from "../../../src/domain/bootstrap-token.js";
import { ERROR_CATALOGUE, type ErrorCode } from "../../../src/domain/errors.js";
import { csrPemToDer, estBody, flipLastByte, webCryptoCsr } from "../../helpers/certs.js";
import { opensslCsr, startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { httpsRequest, postJson, type HttpsResponse } from "../../helpers/https.js";
import { insertTokenRecord, registryCounts, setDeviceStatus, tokenUsesLeft } from "../../helpers/registry.js";
import { revokeToken } from "../../../src/app/revoke-token.js";
import { systemClock } from "../../../src/ports.js";

const EST = "/.well-known/est";
let fg: TestFleetgate;
/** Every plaintext token this file hands to the server: none may appear in a log line. */
const tokensSent: string[] = [];

/** A valid openssl CSR for h-dev, for the cases where the CSR is not what is being judged. */
let hDevCsr: string;

beforeAll(async () => {
  fg = await startTestFleetgate();
  hDevCsr = opensslCsr("/CN=h-dev").csrPem;
});
afterAll(async () => fg?.close());

async function token(deviceId = "h-dev"): Promise<string> {
  const t = await fg.token({ deviceId });
  tokensSent.push(t);
  return t;
}

function send(
  path: string,
  body: string | Buffer,
  contentType: string,
  headers: Record<string, string> = {},
): Promise<HttpsResponse> {
  return httpsRequest(fg.enrollUrl + path, {
    method: "POST",
    ca: fg.rootCaPem,
    headers: { "content-type": contentType, ...headers },
    body,
  });
}

function enrollJson(tokenValue: string, csr: string): Promise<HttpsResponse> {
  return postJson(fg.enrollUrl, "/v1/enroll", { token: tokenValue, csr }, fg.rootCaPem);
}

/**
 * Runs a hostile request and checks: the exact status and code, a body of exactly {code, message}
 * with the catalogue's message, nothing recorded, the token untouched, and the service still up.
 */
async function expectRefusal(
  code: ErrorCode,
  run: () => Promise<HttpsResponse>,
  spent?: string,
): Promise<HttpsResponse> {
  const before = await registryCounts(fg.running.registry);
  const usesBefore = spent === undefined ? undefined : await tokenUsesLeft(fg.running.registry, spent);
  const res = await run();
  expect({ status: res.status, code: res.json()["code"] }).toEqual({ status: ERROR_CATALOGUE[code].status, code });
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  expect(res.json()).toEqual({ code, message: ERROR_CATALOGUE[code].message });
  expect(res.body).not.toMatch(/stack|\bat \S+ \(|Error:|BEGIN CERTIFICATE/);
  expect(await registryCounts(fg.running.registry)).toEqual(before);
  if (spent !== undefined) expect(await tokenUsesLeft(fg.running.registry, spent)).toBe(usesBefore);
  const alive = await httpsRequest(`${fg.enrollUrl}${EST}/cacerts`, { ca: fg.rootCaPem });
  expect(alive.status).toBe(200);
  return res;
}

describe("hostile CSRs over /v1/enroll", () => {
  it("truncated DER -> 400 malformed_csr", async () => {
    const t = await token();
    const der = csrPemToDer(hDevCsr);
    const truncated = derToPem(der.slice(0, Math.floor(der.length / 2)), "CERTIFICATE REQUEST");
    await expectRefusal("malformed_csr", () => enrollJson(t, truncated), t);
  });

  it("a CSR field that is not PEM -> 400 malformed_csr", async () => {
    const t = await token();
    await expectRefusal("malformed_csr", () => enrollJson(t, "hello"), t);
    await expectRefusal(
      "malformed_csr",
      () => enrollJson(t, "-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n"),
      t,
    );
  });

  it("bad signature (one byte of the signature flipped) -> 400 csr_signature_invalid", async () => {
    const t = await token();
    const der = csrPemToDer(hDevCsr);
    const tampered = flipLastByte(der);
    expect(new x509.Pkcs10CertificateRequest(tampered).subject).toBe("CN=h-dev"); // still decodes
    await expectRefusal("csr_signature_invalid", () => enrollJson(t, derToPem(tampered, "CERTIFICATE REQUEST")), t);
  });

  it("a CSR whose CN was edited after signing -> 400 csr_signature_invalid", async () => {
    const t = await token("h-edit-b");
    const der = Buffer.from(csrPemToDer(opensslCsr("/CN=h-edit-a").csrPem));
    const at = der.indexOf(Buffer.from("h-edit-a"));
    der.write("h-edit-b", at); // same length, so the DER stays well formed
    expect(new x509.Pkcs10CertificateRequest(new Uint8Array(der)).subject).toBe("CN=h-edit-b");
    await expectRefusal(
      "csr_signature_invalid",
      () => enrollJson(t, derToPem(new Uint8Array(der), "CERTIFICATE REQUEST")),
      t,
    );
  });

  it("RSA-1024 -> 403 key_not_allowed", async () => {
    const t = await token();
    await expectRefusal(
      "key_not_allowed",
      () => enrollJson(t, opensslCsr("/CN=h-dev", ["-newkey", "rsa:1024"]).csrPem),
      t,
    );
  });

  it.each([
    ["secp256k1", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"]],
    ["Ed25519", ["-newkey", "ed25519"]],
  ])("%s -> 403 key_not_allowed", async (_label, keyArgs) => {
    const t = await token();
    await expectRefusal("key_not_allowed", () => enrollJson(t, opensslCsr("/CN=h-dev", keyArgs).csrPem), t);
  });

  it("CA:true request -> 403 csr_requests_ca", async () => {
    const t = await token();
    const { csrPem } = opensslCsr("/CN=h-dev", undefined, ["-addext", "basicConstraints=critical,CA:TRUE"]);
    await expectRefusal("csr_requests_ca", () => enrollJson(t, csrPem), t);
  });

  it.each<[string, x509.JsonName]>([
    ["#", [{ CN: ["h-dev#"] }]],
    ["+", [{ CN: ["h-dev+"] }]],
    ["/", [{ CN: ["h-dev/x"] }]],
    ["$", [{ CN: ["$h-dev"] }]],
    ["NUL", [{ CN: ["h-dev\u0000"] }]],
    ["a space", [{ CN: ["h dev"] }]],
    ["65 characters", [{ CN: ["h-dev" + "x".repeat(60)] }]],
    ["an empty CN", [{ CN: [""] }]],
    ["no CN", [{ O: ["h-dev"] }]],
    ["two CNs", [{ CN: ["h-dev"] }, { CN: ["h-dev"] }]],
    ["a multi-valued CN RDN", [{ CN: ["h-dev", "h-other"] }]],
  ])("a CN with %s -> 403 cn_invalid", async (_label, name) => {
    const t = await fg.token({ prefix: "h-", uses: 5 });
    tokensSent.push(t);
    const { csrPem } = await webCryptoCsr(name);
    await expectRefusal("cn_invalid", () => enrollJson(t, csrPem), t);
  });
});

describe("hostile requests over /v1/enroll", () => {
  it("a 1 MiB body -> 413 body_too_large", async () => {
    const t = await token();
    const huge = JSON.stringify({ token: t, csr: "A".repeat(1024 * 1024) });
    // Streamed (chunked, the limit is found while reading) and announced (Content-Length).
    await expectRefusal("body_too_large", () => send("/v1/enroll", huge, "application/json"), t);
    await expectRefusal(
      "body_too_large",
      () => send("/v1/enroll", huge, "application/json", { "content-length": String(Buffer.byteLength(huge)) }),
      t,
    );
  });

  it("a wrong content type -> 415 unsupported_media_type", async () => {
    const t = await token();
    const body = JSON.stringify({ token: t, csr: hDevCsr });
    await expectRefusal("unsupported_media_type", () => send("/v1/enroll", body, "text/plain"), t);
    await expectRefusal(
      "unsupported_media_type",
      () => send("/v1/enroll", body, "application/x-www-form-urlencoded"),
      t,
    );
    await expectRefusal(
      "unsupported_media_type",
      () => send("/v1/enroll", estBody(new Uint8Array(8), true), "application/pkcs10"),
      t,
    );
  });

  it("a body that is not JSON -> 400 malformed_request, and the token in it is not logged", async () => {
    const t = await token();
    await expectRefusal(
      "malformed_request",
      () => send("/v1/enroll", `{"token": "${t}", csr: oops`, "application/json"),
      t,
    );
    await expectRefusal("malformed_request", () => send("/v1/enroll", "", "application/json"), t);
    await expectRefusal("malformed_request", () => send("/v1/enroll", `token=${t}`, "application/json"), t);
  });

  it.each<[string, unknown]>([
    ["an array", []],
    ["a missing csr", { token: "fgt_x" }],
    ["a numeric token", { token: 7, csr: "x" }],
    ["an extra field", { token: "fgt_x", csr: "x", deviceId: "h-dev" }],
    ["an empty token", { token: "", csr: "x" }],
  ])("JSON of the wrong shape (%s) -> 400 malformed_request", async (_label, body) => {
    await expectRefusal("malformed_request", () => send("/v1/enroll", JSON.stringify(body), "application/json"));
  });

  it("a wrong token -> 401 token_invalid", async () => {
    const csrPem = hDevCsr;
    const wellFormed = formatToken(randomBytes(32));
    tokensSent.push(wellFormed);
    await expectRefusal("token_invalid", () => enrollJson(wellFormed, csrPem));
    await expectRefusal("token_invalid", () => enrollJson("not-a-token", csrPem));
    // A real token with one character changed.
    const real = await token();
    const altered = real.slice(0, -1) + (real.endsWith("A") ? "B" : "A");
    tokensSent.push(altered);
    await expectRefusal("token_invalid", () => enrollJson(altered, csrPem), real);
  });

  it("a reused single-use token -> 401 token_used", async () => {
    const t = await token("h-reuse");
    expect((await enrollJson(t, opensslCsr("/CN=h-reuse").csrPem)).status).toBe(201);
    await expectRefusal("token_used", () => enrollJson(t, opensslCsr("/CN=h-reuse").csrPem), t);
    expect(await fg.running.registry.listCertificates("h-reuse")).toHaveLength(1);
  });

  it("an expired token -> 401 token_expired", async () => {
    const plain = formatToken(randomBytes(32));
    tokensSent.push(plain);
    const now = Date.now();
    await insertTokenRecord(fg.running.registry, {
      id: "expired1",
      hash: hashToken(plain),
      deviceId: "h-expired",
      prefix: null,
      profile: "device",
      usesTotal: 1,
      usesLeft: 1,
      createdAt: now - 7_200_000,
      expiresAt: now - 1,
      revokedAt: null,
    });
    await expectRefusal("token_expired", () => enrollJson(plain, opensslCsr("/CN=h-expired").csrPem), plain);
  });

  it("a revoked token -> 401 token_revoked", async () => {
    const t = await token("h-revoked");
    const record = await fg.running.registry.findTokenByHash(hashToken(t));
    await revokeToken({ registry: fg.running.registry, clock: systemClock }, record!.id, "test");
    await expectRefusal("token_revoked", () => enrollJson(t, opensslCsr("/CN=h-revoked").csrPem), t);
  });

  it("a device revoked by an operator cannot enroll again -> 403 device_revoked", async () => {
    const first = await token("h-gone");
    expect((await enrollJson(first, opensslCsr("/CN=h-gone").csrPem)).status).toBe(201);
    await setDeviceStatus(fg.running.registry, "h-gone", "revoked");
    const again = await token("h-gone");
    await expectRefusal("device_revoked", () => enrollJson(again, opensslCsr("/CN=h-gone").csrPem), again);
  });

  it("a token whose profile is no longer configured -> 500 internal_error, without internals", async () => {
    const plain = formatToken(randomBytes(32));
    tokensSent.push(plain);
    const now = Date.now();
    await insertTokenRecord(fg.running.registry, {
      id: "ghost001",
      hash: hashToken(plain),
      deviceId: "h-ghost",
      prefix: null,
      profile: "ghost-profile",
      usesTotal: 1,
      usesLeft: 1,
      createdAt: now,
      expiresAt: now + 3_600_000,
      revokedAt: null,
    });
    const res = await expectRefusal("internal_error", () => enrollJson(plain, opensslCsr("/CN=h-ghost").csrPem), plain);
    expect(res.body).not.toContain("ghost-profile");
    expect(fg.logs.raw()).toContain("ghost-profile"); // the operator finds the cause in the log
  });

  it("an unknown path -> 404 not_found", async () => {
    await expectRefusal("not_found", () => send("/v1/enrol", "{}", "application/json"));
    await expectRefusal("not_found", () => httpsRequest(`${fg.enrollUrl}/../../etc/passwd`, { ca: fg.rootCaPem }));
  });
});

describe("hostile requests over EST simpleenroll", () => {
  const basic = (user: string, password: string) => ({
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
  });

  it("truncated DER -> 400 malformed_csr", async () => {
    const t = await token();
    const der = csrPemToDer(hDevCsr);
    await expectRefusal(
      "malformed_csr",
      () => send(`${EST}/simpleenroll`, estBody(der.slice(0, 40), true), "application/pkcs10", basic("h-dev", t)),
      t,
    );
  });

  it("bad signature -> 400 csr_signature_invalid", async () => {
    const t = await token();
    const der = flipLastByte(csrPemToDer(hDevCsr));
    await expectRefusal(
      "csr_signature_invalid",
      () => send(`${EST}/simpleenroll`, estBody(der, false), "application/pkcs10", basic("h-dev", t)),
      t,
    );
  });

  it("a 1 MiB body -> 413 body_too_large", async () => {
    const t = await token();
    await expectRefusal(
      "body_too_large",
      () => send(`${EST}/simpleenroll`, "QUFB".repeat(256 * 1024), "application/pkcs10", basic("h-dev", t)),
      t,
    );
  });

  it("a wrong token -> 401 token_invalid; a wrong content type -> 415", async () => {
    const der = csrPemToDer(hDevCsr);
    await expectRefusal("token_invalid", () =>
      send(`${EST}/simpleenroll`, estBody(der, true), "application/pkcs10", basic("h-dev", "wrong")),
    );
    const t = await token();
    await expectRefusal(
      "unsupported_media_type",
      () => send(`${EST}/simpleenroll`, estBody(der, true), "application/json", basic("h-dev", t)),
      t,
    );
  });
});

describe("secrets stay out of the log", () => {
  it("no log line contains a plaintext token", async () => {
    expect(tokensSent.length).toBeGreaterThan(10);
    const raw = fg.logs.raw();
    expect(raw).toContain("request refused"); // the refusals above were logged...
    for (const t of tokensSent) expect(raw).not.toContain(t); // ...without the tokens
    expect(raw).not.toMatch(/fgt_[A-Za-z0-9_-]{43}/);
    expect(raw).not.toMatch(/Basic [A-Za-z0-9+/=]{20,}/);
  });
});
