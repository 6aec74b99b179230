import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { x509 } from "../../../src/adapters/shared/x509.js";
import { hashToken } from "../../../src/domain/bootstrap-token.js";
import {
  csrPemToDer,
  estBody,
  foreignClientCertificate,
  makeTempDir,
  openssl,
  opensslBytes,
  opensslVerify,
  pkcs7Certificates,
  runAsync,
  sameCertificate,
  serialOf,
  webCryptoCsr,
} from "../../helpers/certs.js";
import { opensslCsr, startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { httpsRequest, type HttpsResponse } from "../../helpers/https.js";
import { allAudit, setDeviceStatus } from "../../helpers/registry.js";

const EST = "/.well-known/est";
const CERTS_ONLY = "application/pkcs7-mime; smime-type=certs-only";

let fg: TestFleetgate;
let issuingPem: string;
const tmp = makeTempDir("fleetgate-est-");

beforeAll(async () => {
  fg = await startTestFleetgate();
  issuingPem = fg.running.deps.signer.issuingCaPem;
});
afterAll(async () => {
  tmp.remove();
  await fg?.close();
});

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

function simpleEnroll(body: string, headers: Record<string, string>): Promise<HttpsResponse> {
  return httpsRequest(`${fg.enrollUrl}${EST}/simpleenroll`, {
    method: "POST",
    ca: fg.rootCaPem,
    headers: { "content-type": "application/pkcs10", ...headers },
    body,
  });
}

function simpleReenroll(body: string, client?: { cert: string; key: string }): Promise<HttpsResponse> {
  return httpsRequest(`${fg.enrollUrl}${EST}/simplereenroll`, {
    method: "POST",
    ca: fg.rootCaPem,
    headers: { "content-type": "application/pkcs10" },
    body,
    ...client,
  });
}

function expectRefused(res: HttpsResponse, status: number, code: string): void {
  expect({ status: res.status, body: res.json() }).toEqual({ status, body: { code, message: expect.any(String) } });
}

/** The one certificate in a certs-only answer, decoded by openssl pkcs7. */
function issuedCertificate(res: HttpsResponse): string {
  expect(res.status).toBe(200);
  expect(res.headers["content-type"]).toBe(CERTS_ONLY);
  const certificates = pkcs7Certificates(res.body);
  expect(certificates).toHaveLength(1);
  return certificates[0]!;
}

/**
 * Set-up for the re-enrollment tests: enrolls `id` over EST with a WebCrypto key and decodes the
 * answer in-process (the openssl decoding is covered by the simpleenroll tests). Returns PEMs.
 */
async function estEnroll(id: string): Promise<{ cert: string; key: string }> {
  const token = await fg.token({ deviceId: id });
  const { csrDer, keyPem } = await webCryptoCsr([{ CN: [id] }]);
  const res = await simpleEnroll(estBody(csrDer, true), { authorization: basic(id, token) });
  expect(res.status).toBe(200);
  const [cert] = new x509.X509Certificates(new Uint8Array(Buffer.from(res.body, "base64")));
  return { cert: cert!.toString("pem"), key: keyPem };
}

/** A fresh-key re-enrollment body for `id`. */
async function renewalBody(id: string): Promise<{ body: string; keyPem: string }> {
  const { csrDer, keyPem } = await webCryptoCsr([{ CN: [id] }]);
  return { body: estBody(csrDer, true), keyPem };
}

describe("GET /.well-known/est/cacerts", () => {
  it("is a base64 certs-only PKCS#7 holding the issuing and root CA", async () => {
    const res = await httpsRequest(`${fg.enrollUrl}${EST}/cacerts`, { ca: fg.rootCaPem });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/pkcs7-mime/);
    expect(res.headers["content-transfer-encoding"]).toBe("base64");
    expect(res.body).toMatch(/^[A-Za-z0-9+/=\n]+$/);
    const certificates = pkcs7Certificates(res.body);
    expect(certificates).toHaveLength(2);
    expect(certificates.some((c) => sameCertificate(c, issuingPem))).toBe(true);
    expect(certificates.some((c) => sameCertificate(c, fg.rootCaPem))).toBe(true);
  });

  it("decodes with `openssl base64 -d` too (RFC 2045 lines)", async () => {
    const res = await httpsRequest(`${fg.enrollUrl}${EST}/cacerts`, { ca: fg.rootCaPem });
    const der = opensslBytes(["base64", "-d"], res.body);
    const viaCli = openssl(["pkcs7", "-inform", "DER", "-print_certs", "-noout"], der);
    expect(viaCli).toMatch(/subject=.*Issuing CA/);
    expect(viaCli).toMatch(/subject=.*Root CA/);
  });
});

describe("POST /.well-known/est/simpleenroll", () => {
  it.each([
    ["with line breaks", true],
    ["on one line", false],
  ])("enrolls with a base64 DER body %s", async (label, lineBreaks) => {
    const id = lineBreaks ? "est-wrapped" : "est-oneline";
    const token = await fg.token({ deviceId: id });
    const { csrPem } = opensslCsr(`/CN=${id}`);
    const body = estBody(csrPemToDer(csrPem), lineBreaks);
    expect(body.includes("\n")).toBe(lineBreaks);
    const res = await simpleEnroll(body, { authorization: basic(id, token) });
    const cert = issuedCertificate(res);
    expect(res.headers["content-transfer-encoding"]).toBe("base64");
    expect(opensslVerify(cert, fg.rootCaPem, issuingPem).ok, label).toBe(true);
    expect(openssl(["x509", "-noout", "-subject", "-nameopt", "RFC2253"], cert).trim()).toBe(
      `subject=OU=device,CN=${id}`,
    );
    expect(await fg.running.registry.getCertificate(serialOf(cert))).toMatchObject({ deviceId: id, status: "active" });
  });

  it("accepts a WebCrypto CSR", async () => {
    const token = await fg.token({ deviceId: "est-webcrypto" });
    const { csrDer } = await webCryptoCsr([{ CN: ["est-webcrypto"] }]);
    const cert = issuedCertificate(
      await simpleEnroll(estBody(csrDer, true), { authorization: basic("est-webcrypto", token) }),
    );
    expect(opensslVerify(cert, fg.rootCaPem, issuingPem).ok).toBe(true);
  });

  it("refuses a username that is not the CSR's CN (cn_mismatch), spending nothing", async () => {
    const token = await fg.token({ prefix: "est-grp-", uses: 2 });
    const { csrPem } = opensslCsr("/CN=est-grp-1");
    const res = await simpleEnroll(estBody(csrPemToDer(csrPem), true), { authorization: basic("est-grp-2", token) });
    expectRefused(res, 403, "cn_mismatch");
    expect((await fg.running.registry.findTokenByHash(hashToken(token)))?.usesLeft).toBe(2);
    expect(await fg.running.registry.getDevice("est-grp-1")).toBeUndefined();
  });

  it.each([
    ["no Authorization header", {}],
    ["a Bearer header", { authorization: "Bearer abc" }],
    ["Basic credentials without a colon", { authorization: `Basic ${Buffer.from("nocolon").toString("base64")}` }],
  ])("answers 401 token_missing with WWW-Authenticate for %s", async (_label, headers: Record<string, string>) => {
    const { csrPem } = opensslCsr("/CN=est-noauth");
    const res = await simpleEnroll(estBody(csrPemToDer(csrPem), true), headers);
    expectRefused(res, 401, "token_missing");
    expect(res.headers["www-authenticate"]).toMatch(/^Basic realm="[^"]+"$/);
    expect(await fg.running.registry.getDevice("est-noauth")).toBeUndefined();
  });

  it("refuses a wrong token with token_invalid", async () => {
    const { csrPem } = opensslCsr("/CN=est-badtoken");
    const res = await simpleEnroll(estBody(csrPemToDer(csrPem), true), {
      authorization: basic("est-badtoken", `fgt_${"A".repeat(43)}`),
    });
    expectRefused(res, 401, "token_invalid");
  });

  it("refuses a body that is not base64 with malformed_csr and a wrong content type with 415", async () => {
    const token = await fg.token({ deviceId: "est-badbody" });
    expectRefused(
      await simpleEnroll("this is *not* base64!", { authorization: basic("est-badbody", token) }),
      400,
      "malformed_csr",
    );
    const { csrPem } = opensslCsr("/CN=est-badbody");
    expectRefused(await simpleEnroll(csrPem, { authorization: basic("est-badbody", token) }), 400, "malformed_csr");
    const wrongType = await httpsRequest(`${fg.enrollUrl}${EST}/simpleenroll`, {
      method: "POST",
      ca: fg.rootCaPem,
      headers: { "content-type": "text/plain", authorization: basic("est-badbody", token) },
      body: estBody(csrPemToDer(csrPem), true),
    });
    expectRefused(wrongType, 415, "unsupported_media_type");
    expect((await fg.running.registry.findTokenByHash(hashToken(token)))?.usesLeft).toBe(1);
  });
});

describe("POST /.well-known/est/simplereenroll (mTLS)", () => {
  it("renews with a new key: new certificate, the old one superseded", async () => {
    const first = await estEnroll("renew-1");
    const { csrPem, keyPem } = opensslCsr("/CN=renew-1");
    const res = await simpleReenroll(estBody(csrPemToDer(csrPem), true), first);
    const renewed = issuedCertificate(res);
    expect(opensslVerify(renewed, fg.rootCaPem, issuingPem).ok).toBe(true);
    expect(serialOf(renewed)).not.toBe(serialOf(first.cert));
    expect(openssl(["x509", "-noout", "-pubkey"], renewed)).toBe(
      openssl(["pkey", "-in", tmp.file("renew-1.key", keyPem), "-pubout"]),
    );
    const registry = fg.running.registry;
    expect((await registry.getCertificate(serialOf(first.cert)))?.status).toBe("superseded");
    expect((await registry.getCertificate(serialOf(renewed)))?.status).toBe("active");
    expect((await registry.certificateState(serialOf(first.cert)))?.status).toBe("superseded");
    const audit = await allAudit(registry);
    expect(
      audit.some((e) => e.action === "device.renewed" && e.details["previousSerial"] === serialOf(first.cert)),
    ).toBe(true);

    // The renewed certificate works for the next renewal.
    const next = await renewalBody("renew-1");
    expect((await simpleReenroll(next.body, { cert: renewed, key: keyPem })).status).toBe(200);
    expect(await registry.listCertificates("renew-1")).toHaveLength(3);
  });

  it("refuses a superseded certificate (403 certificate_not_active), recording nothing", async () => {
    const first = await estEnroll("renew-old");
    expect((await simpleReenroll((await renewalBody("renew-old")).body, first)).status).toBe(200);
    expectRefused(await simpleReenroll((await renewalBody("renew-old")).body, first), 403, "certificate_not_active");
    expect(await fg.running.registry.listCertificates("renew-old")).toHaveLength(2);
  });

  it("refuses a CSR for another CN with cn_mismatch", async () => {
    const first = await estEnroll("renew-2");
    await estEnroll("renew-3");
    expectRefused(await simpleReenroll((await renewalBody("renew-3")).body, first), 403, "cn_mismatch");
    expect((await fg.running.registry.getCertificate(serialOf(first.cert)))?.status).toBe("active");
    expect(await fg.running.registry.listCertificates("renew-3")).toHaveLength(1);
  });

  it("refuses a request without a client certificate (401 client_certificate_required)", async () => {
    expectRefused(await simpleReenroll((await renewalBody("renew-anon")).body), 401, "client_certificate_required");
  });

  it("refuses a certificate from a foreign CA with the same CN (401 client_certificate_required)", async () => {
    await estEnroll("renew-foreign");
    const foreign = foreignClientCertificate("renew-foreign");
    const res = await simpleReenroll((await renewalBody("renew-foreign")).body, {
      cert: foreign.certPem,
      key: foreign.keyPem,
    });
    expectRefused(res, 401, "client_certificate_required");
    expect(await fg.running.registry.listCertificates("renew-foreign")).toHaveLength(1);
  });

  it("refuses a revoked device's certificate (403 device_revoked)", async () => {
    const first = await estEnroll("renew-revoked");
    await setDeviceStatus(fg.running.registry, "renew-revoked", "revoked");
    expectRefused(await simpleReenroll((await renewalBody("renew-revoked")).body, first), 403, "device_revoked");
    expect(await fg.running.registry.listCertificates("renew-revoked")).toHaveLength(1);
  });
});

describe("the README way: openssl req + curl", () => {
  it("enrolls with curl --cacert root -u dev:TOKEN --data-binary @csr.b64", async () => {
    const token = await fg.token({ deviceId: "curl-dev-1" });
    const root = tmp.file("root-ca.crt", fg.rootCaPem);
    const key = join(tmp.dir, "device.key");
    const csrDer = join(tmp.dir, "device.csr.der");
    const csrB64 = join(tmp.dir, "device.csr.b64");
    const out = join(tmp.dir, "device.p7.b64");
    openssl([
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      key,
      "-subj",
      "/CN=curl-dev-1",
      "-outform",
      "DER",
      "-out",
      csrDer,
    ]);
    openssl(["base64", "-in", csrDer, "-out", csrB64]);
    const curl = await runAsync("curl", [
      "--silent",
      "--show-error",
      "--fail",
      "--cacert",
      root,
      "-u",
      `curl-dev-1:${token}`,
      "-H",
      "Content-Type: application/pkcs10",
      "--data-binary",
      `@${csrB64}`,
      "-o",
      out,
      `${fg.enrollUrl}${EST}/simpleenroll`,
    ]);
    expect(curl.stderr).toBe("");
    expect(curl.code).toBe(0);
    const printed = openssl(
      ["pkcs7", "-inform", "DER", "-print_certs"],
      Buffer.from(tmp.read("device.p7.b64"), "base64"),
    );
    const cert = printed.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/)?.[0] ?? "";
    expect(opensslVerify(cert, fg.rootCaPem, issuingPem).ok).toBe(true);
    // The issued certificate belongs to the key openssl generated.
    const certKey = openssl(["x509", "-noout", "-pubkey"], cert);
    const ownKey = openssl(["pkey", "-in", key, "-pubout"]);
    expect(certKey).toBe(ownKey);
  });

  it("curl without credentials gets 401 and the JSON error", async () => {
    const csrB64 = tmp.file("anon.csr.b64", estBody(csrPemToDer(opensslCsr("/CN=curl-anon").csrPem), true));
    const curl = await runAsync("curl", [
      "--silent",
      "--cacert",
      tmp.file("root2.crt", fg.rootCaPem),
      "-H",
      "Content-Type: application/pkcs10",
      "--data-binary",
      `@${csrB64}`,
      "-w",
      "\n%{http_code}",
      `${fg.enrollUrl}${EST}/simpleenroll`,
    ]);
    const [json, status] = curl.stdout.split("\n");
    expect(status).toBe("401");
    expect(JSON.parse(json!)).toMatchObject({ code: "token_missing" });
  });
});
