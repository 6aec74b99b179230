import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { webcrypto } from "node:crypto";
import { pemToDer } from "../../../src/adapters/shared/pem.js";
import { revokeDevice } from "../../../src/app/revoke-device.js";
import { makeTempDir, runAsync, serialOf, type TempDir } from "../../helpers/certs.js";
import { reenroll } from "../../helpers/pki.js";
import { enrollDevice, type EnrolledDevice } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";

/**
 * The PKI listener against the real openssl CLI over real HTTP on loopback. fleetgate is started
 * with pki.publicUrl pointing at this test's listener, so the CRL distribution point and OCSP URL
 * in every issued certificate lead here (and `openssl verify -crl_download` can follow them).
 */

let fg: TestFleetgate;
/** pkijs verifies and hashes with Node's WebCrypto (a client's view: the server signs through its IssuerKey). */
const pkijsEngine = new pkijs.CryptoEngine({ name: "node", crypto: webcrypto as unknown as Crypto });
let base: string;
let tmp: TempDir;
let good: EnrolledDevice;
let lost: EnrolledDevice;
let crlBeforeRevocation: Buffer;
let numberBeforeRevocation: number;
const files = { bundle: "", issuing: "", root: "", good: "", lost: "" };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Fetched {
  readonly status: number;
  readonly type: string | null;
  readonly body: Buffer;
}

async function http(path: string, init: RequestInit = {}): Promise<Fetched> {
  const res = await fetch(path.startsWith("http") ? path : `${base}${path}`, init);
  return { status: res.status, type: res.headers.get("content-type"), body: Buffer.from(await res.arrayBuffer()) };
}

function postOcsp(body: Uint8Array<ArrayBuffer>): Promise<Fetched> {
  return http("/ocsp", { method: "POST", headers: { "content-type": "application/ocsp-request" }, body });
}

async function ssl(...args: string[]): Promise<{ code: number; out: string }> {
  const result = await runAsync("openssl", args);
  return { code: result.code, out: `${result.stdout}${result.stderr}` };
}

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  fg = await startTestFleetgate({ pki: { host: "127.0.0.1", port, publicUrl: base } });
  good = await enrollDevice(fg, "dev-good");
  lost = await enrollDevice(fg, "dev-lost");
  crlBeforeRevocation = (await http("/crl/issuing-ca.crl")).body;
  numberBeforeRevocation = fg.running.crl.crlNumber;
  await revokeDevice(fg.running.revocation, "dev-lost", "keyCompromise", "test");
  tmp = makeTempDir("fleetgate-pki-test-");
  const issuingPem = readFileSync(fg.pki.issuingCert, "utf8");
  files.issuing = tmp.file("issuing-ca.crt", issuingPem);
  files.root = tmp.file("root-ca.crt", fg.rootCaPem);
  files.bundle = tmp.file("bundle.crt", issuingPem + fg.rootCaPem);
  files.good = tmp.file("good.crt", good.certPem);
  files.lost = tmp.file("lost.crt", lost.certPem);
});

afterAll(async () => {
  await fg?.close();
  good?.cleanup();
  lost?.cleanup();
  tmp?.remove();
});

describe("CA certificates", () => {
  it("serves the root and issuing CA as PEM and the issuing CA as DER", async () => {
    const root = await http("/ca/root-ca.crt");
    const issuing = await http("/ca/issuing-ca.crt");
    const der = await http("/ca/issuing-ca.der");
    expect([root.status, root.type, root.body.toString()]).toEqual([200, "application/x-pem-file", fg.rootCaPem]);
    expect([issuing.status, issuing.type, issuing.body.toString()]).toEqual([
      200,
      "application/x-pem-file",
      readFileSync(fg.pki.issuingCert, "utf8"),
    ]);
    expect([der.status, der.type]).toEqual([200, "application/pkix-cert"]);
    expect(der.body.equals(Buffer.from(pemToDer(issuing.body.toString(), ["CERTIFICATE"])!))).toBe(true);
  });

  it("answers unknown paths with the JSON not_found error", async () => {
    const res = await http("/ca/nope.crt");
    expect([res.status, JSON.parse(res.body.toString()).code]).toEqual([404, "not_found"]);
  });
});

async function crlText(der: Buffer): Promise<string> {
  const result = await ssl(
    "crl",
    "-inform",
    "DER",
    "-in",
    tmp.file(`crl-${randomBytes(4).toString("hex")}.der`, der),
    "-noout",
    "-text",
  );
  expect(result.code).toBe(0);
  return result.out;
}

function crlNumberOf(text: string): number {
  const match = /X509v3 CRL Number:\s*\n\s*(\d+)/.exec(text);
  if (!match) throw new Error(`no CRL number in\n${text}`);
  return Number(match[1]);
}

describe("CRL (RFC 5280 §5)", () => {
  it("is served as DER at the distribution point URL written into every certificate: the CA's own CRL", async () => {
    const ext = await ssl("x509", "-in", files.good, "-noout", "-ext", "crlDistributionPoints");
    const url = /URI:(\S+)/.exec(ext.out)?.[1];
    expect(url).toBe(`${base}/crl/ca-1.crl`);
    const res = await http(url!);
    expect([res.status, res.type]).toEqual([200, "application/pkix-crl"]);
    expect(res.body[0]).toBe(0x30);
    // The active CA's CRL also answers at /crl/issuing-ca.crl, the same document.
    expect((await http("/crl/issuing-ca.crl")).body.equals(res.body)).toBe(true);
    expect((await http("/crl/ca-2.crl")).status).toBe(404);
  });

  it("verifies with openssl crl -CAfile against the CA bundle", async () => {
    const der = (await http("/crl/issuing-ca.crl")).body;
    const result = await ssl(
      "crl",
      "-inform",
      "DER",
      "-in",
      tmp.file("verify.crl", der),
      "-CAfile",
      files.bundle,
      "-noout",
    );
    expect(result).toEqual({ code: 0, out: expect.stringContaining("verify OK") });
  });

  it("lists the revoked serial with reason Key Compromise, a CRL number, the AKI and a 24 h validity", async () => {
    const text = await crlText((await http("/crl/issuing-ca.crl")).body);
    expect(text).toContain("Version 2");
    expect(text).toContain("Issuer: CN = fleetgate Issuing CA");
    expect(text).toMatch(
      new RegExp(
        `Serial Number: ${serialOf(lost.certPem).toUpperCase()}\\s+Revocation Date: .+\\s+CRL entry extensions:\\s+X509v3 CRL Reason Code:\\s+Key Compromise`,
      ),
    );
    expect(text.toUpperCase()).not.toContain(serialOf(good.certPem).toUpperCase());
    const ski = (await ssl("x509", "-in", files.issuing, "-noout", "-ext", "subjectKeyIdentifier")).out
      .split("\n")[1]!
      .trim();
    expect(text).toMatch(new RegExp(`Authority Key Identifier:\\s*\\n\\s*(keyid:)?${ski}`));
    const last = Date.parse(/Last Update: (.+)/.exec(text)![1]!);
    const next = Date.parse(/Next Update: (.+)/.exec(text)![1]!);
    expect(next - last).toBe(86_400_000);
  });

  it("was re-signed by the revocation: the earlier CRL had no entries and a lower number", async () => {
    const before = await crlText(crlBeforeRevocation);
    expect(before).toContain("No Revoked Certificates.");
    const after = await crlText((await http("/crl/issuing-ca.crl")).body);
    expect(crlNumberOf(after)).toBeGreaterThan(crlNumberOf(before));
    expect(fg.running.crl.crlNumber).toBeGreaterThan(numberBeforeRevocation);
  });

  it("has a strictly increasing CRL number on each refresh", async () => {
    const n1 = crlNumberOf(await crlText((await http("/crl/issuing-ca.crl")).body));
    await fg.running.crl.refresh("test");
    const n2 = crlNumberOf(await crlText((await http("/crl/issuing-ca.crl")).body));
    await fg.running.crl.refresh("test");
    const n3 = crlNumberOf(await crlText((await http("/crl/issuing-ca.crl")).body));
    expect(n2).toBeGreaterThan(n1);
    expect(n3).toBeGreaterThan(n2);
  });

  it("makes openssl verify -crl_check -CRLfile report the revoked certificate revoked and the other OK", async () => {
    const crlPem = await ssl(
      "crl",
      "-inform",
      "DER",
      "-in",
      tmp.file("file.crl", (await http("/crl/issuing-ca.crl")).body),
      "-outform",
      "PEM",
    );
    const crlFile = tmp.file("crl.pem", crlPem.out);
    const ok = await ssl("verify", "-crl_check", "-CRLfile", crlFile, "-CAfile", files.bundle, files.good);
    const revoked = await ssl("verify", "-crl_check", "-CRLfile", crlFile, "-CAfile", files.bundle, files.lost);
    expect(ok).toEqual({ code: 0, out: expect.stringContaining(": OK") });
    expect(revoked.code).not.toBe(0);
    expect(revoked.out).toContain("certificate revoked");
  });

  it("makes openssl verify -crl_check -crl_download (following the certificate's URL) agree", async () => {
    const ok = await ssl("verify", "-crl_check", "-crl_download", "-CAfile", files.bundle, files.good);
    const revoked = await ssl("verify", "-crl_check", "-crl_download", "-CAfile", files.bundle, files.lost);
    expect(ok).toEqual({ code: 0, out: expect.stringContaining(": OK") });
    expect(revoked.code).not.toBe(0);
    expect(revoked.out).toContain("certificate revoked");
  });
});

async function opensslOcsp(...args: string[]): Promise<{ code: number; out: string }> {
  return ssl("ocsp", "-issuer", files.issuing, "-url", `${base}/ocsp`, "-CAfile", files.bundle, ...args);
}

function expectVerifiedWithNonce(result: { code: number; out: string }): void {
  expect(result.code).toBe(0);
  expect(result.out).toContain("Response verify OK");
  expect(result.out).not.toMatch(/WARNING|nonce/i);
}

describe("OCSP with the openssl CLI (RFC 6960)", () => {
  it("answers good at the OCSP URL written into the certificate (AIA), verified, nonce echoed", async () => {
    const aia = await ssl("x509", "-in", files.good, "-noout", "-ext", "authorityInfoAccess");
    expect(aia.out).toContain(`OCSP - URI:${base}/ocsp`);
    const result = await opensslOcsp("-cert", files.good);
    expectVerifiedWithNonce(result);
    expect(result.out).toMatch(/good\.crt: good\n\s+This Update: .+\n\s+Next Update: /);
  });

  it("answers revoked with the revocation time and reason", async () => {
    const result = await opensslOcsp("-cert", files.lost);
    expectVerifiedWithNonce(result);
    expect(result.out).toMatch(/lost\.crt: revoked\n(\s+.+\n)*?\s+Reason: keyCompromise\n\s+Revocation Time: /);
  });

  it("answers unknown for a serial it never issued", async () => {
    const result = await opensslOcsp("-serial", "0x1234");
    expectVerifiedWithNonce(result);
    expect(result.out).toContain("0x1234: unknown");
  });

  it("answers several CertIDs in one request, and SHA-256 CertIDs too", async () => {
    const result = await opensslOcsp("-sha256", "-cert", files.good, "-cert", files.lost, "-serial", "0x1234");
    expectVerifiedWithNonce(result);
    expect(result.out).toMatch(/good\.crt: good[\s\S]+lost\.crt: revoked[\s\S]+0x1234: unknown/);
  });

  it("answers unauthorized when no CertID names the issuing CA", async () => {
    const result = await ssl(
      "ocsp",
      "-issuer",
      files.root,
      "-serial",
      "0x1234",
      "-url",
      `${base}/ocsp`,
      "-CAfile",
      files.bundle,
    );
    expect(result.out).toContain("Responder Error: unauthorized (6)");
  });

  it("answers the GET form (Appendix A.1), URL-encoded base64 of the DER request", async () => {
    const reqFile = `${tmp.dir}/get-req.der`;
    expect(
      (await ssl("ocsp", "-issuer", files.issuing, "-cert", files.good, "-no_nonce", "-reqout", reqFile)).code,
    ).toBe(0);
    const res = await http(`/ocsp/${encodeURIComponent(readFileSync(reqFile).toString("base64"))}`);
    expect([res.status, res.type]).toEqual([200, "application/ocsp-response"]);
    const result = await ssl(
      "ocsp",
      "-respin",
      tmp.file("get-resp.der", res.body),
      "-issuer",
      files.issuing,
      "-cert",
      files.good,
      "-CAfile",
      files.bundle,
      "-no_nonce",
    );
    expect(result.code).toBe(0);
    expect(result.out).toContain("Response verify OK");
    expect(result.out).toContain("good.crt: good");
  });
});

interface DecodedResponse {
  readonly status: number;
  readonly basic?: pkijs.BasicOCSPResponse;
}

function decodeResponse(der: Uint8Array): DecodedResponse {
  const response = pkijs.OCSPResponse.fromBER(new Uint8Array(der));
  const status = response.responseStatus.valueBlock.valueDec;
  if (!response.responseBytes) return { status };
  return {
    status,
    basic: pkijs.BasicOCSPResponse.fromBER(new Uint8Array(response.responseBytes.response.valueBlock.valueHexView)),
  };
}

const NONCE_OID = "1.3.6.1.5.5.7.48.1.2";

async function pkijsRequest(
  certPem: string,
  nonce?: Uint8Array,
): Promise<{ der: Uint8Array<ArrayBuffer>; certIdDer: Buffer }> {
  const certificate = pkijs.Certificate.fromBER(pemToDer(certPem, ["CERTIFICATE"])!);
  const issuerCertificate = pkijs.Certificate.fromBER(
    pemToDer(readFileSync(fg.pki.issuingCert, "utf8"), ["CERTIFICATE"])!,
  );
  const reqCert = await pkijs.CertID.create(certificate, { hashAlgorithm: "SHA-256", issuerCertificate }, pkijsEngine);
  const request = new pkijs.OCSPRequest();
  request.tbsRequest.requestList = [new pkijs.Request({ reqCert })];
  if (nonce) {
    const extnValue = new asn1js.OctetString({ valueHex: nonce }).toBER();
    request.tbsRequest.requestExtensions = [new pkijs.Extension({ extnID: NONCE_OID, extnValue })];
  }
  return { der: new Uint8Array(request.toSchema(true).toBER()), certIdDer: Buffer.from(reqCert.toSchema().toBER()) };
}

describe("OCSP responses decoded with pkijs", () => {
  it("echo the CertID bytes and the nonce exactly, and are signed by the issuing CA", async () => {
    const nonce = randomBytes(16);
    const { der, certIdDer } = await pkijsRequest(good.certPem, nonce);
    const res = await postOcsp(der);
    expect([res.status, res.type]).toEqual([200, "application/ocsp-response"]);
    expect(res.body.includes(certIdDer)).toBe(true);
    const { status, basic } = decodeResponse(res.body);
    expect(status).toBe(0);
    const [extension] = basic!.tbsResponseData.responseExtensions ?? [];
    expect(extension?.extnID).toBe(NONCE_OID);
    const echoed = asn1js.fromBER(extension!.extnValue.valueBlock.valueHexView).result as asn1js.OctetString;
    expect(Buffer.from(echoed.valueBlock.valueHexView).equals(nonce)).toBe(true);
    const root = pkijs.Certificate.fromBER(pemToDer(fg.rootCaPem, ["CERTIFICATE"])!);
    expect(await basic!.verify({ trustedCerts: [root] }, pkijsEngine)).toBe(true);
  });

  it("carry no response extensions when the request had no nonce", async () => {
    const { der } = await pkijsRequest(lost.certPem);
    const { status, basic } = decodeResponse((await postOcsp(der)).body);
    expect(status).toBe(0);
    expect(basic!.tbsResponseData.responseExtensions).toBeUndefined();
    expect(basic!.tbsResponseData.responses[0]!.certStatus.idBlock.tagNumber).toBe(1); // revoked [1]
  });
});

describe("malformed OCSP requests", () => {
  it("get malformedRequest (1) for garbage, empty, truncated, trailing-garbage and non-OCSP DER bodies", async () => {
    const { der } = await pkijsRequest(good.certPem);
    const bodies = [
      randomBytes(64),
      new Uint8Array(),
      der.slice(0, der.length - 5),
      Buffer.concat([der, Buffer.from([0x00, 0x00])]),
      pemToDer(good.certPem, ["CERTIFICATE"])!,
      new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [new asn1js.Sequence()] })] }).toBER(),
    ];
    for (const body of bodies) {
      const res = await postOcsp(new Uint8Array(body));
      expect([res.status, res.type, decodeResponse(res.body).status]).toEqual([200, "application/ocsp-response", 1]);
    }
  });

  it("are reported as malformedRequest by openssl, and the responder still answers afterwards", async () => {
    const res = await postOcsp(randomBytes(50));
    const printed = await ssl("ocsp", "-respin", tmp.file("bad-resp.der", res.body), "-resp_text", "-noverify");
    expect(printed.out).toMatch(/malformedrequest \(1\)/i);
    expectVerifiedWithNonce(await opensslOcsp("-cert", files.good));
  });

  it("get malformedRequest in the GET form too: not base64, not URL-encoding", async () => {
    for (const path of ["/ocsp/not*base64!", "/ocsp/%%%", "/ocsp/AAAA"]) {
      const res = await http(path);
      expect([path, res.status, res.type, decodeResponse(res.body).status]).toEqual([
        path,
        200,
        "application/ocsp-response",
        1,
      ]);
    }
  });

  it("refuse a wrong media type (415) and a body over 64 KiB (413) at the HTTP level", async () => {
    const wrongType = await http("/ocsp", { method: "POST", headers: { "content-type": "text/plain" }, body: "x" });
    const tooLarge = await postOcsp(new Uint8Array(65 * 1024));
    expect([wrongType.status, JSON.parse(wrongType.body.toString()).code]).toEqual([415, "unsupported_media_type"]);
    expect([tooLarge.status, JSON.parse(tooLarge.body.toString()).code]).toEqual([413, "body_too_large"]);
  });
});

describe("a renewed device's old certificate (RFC 5280 reason superseded)", () => {
  let renewedFrom: string;
  beforeAll(async () => {
    const device = await enrollDevice(fg, "dev-renewing");
    const renewed = await reenroll(fg, device);
    expect(renewed.status, renewed.body).toBe(200);
    renewedFrom = tmp.file("renewed-from.crt", device.certPem);
    device.cleanup();
  });

  it("is answered revoked (superseded) by OCSP at once, and verifies", async () => {
    const result = await opensslOcsp("-cert", renewedFrom);
    expectVerifiedWithNonce(result);
    expect(result.out).toMatch(/renewed-from\.crt: revoked\n(\s+.+\n)*?\s+Reason: superseded\n/);
  });

  it("is listed with reason Superseded on the next CRL, signed soon after the renewal", async () => {
    // Renewals re-sign the CRL coalesced (within 30 s); a test does not wait for that.
    await fg.running.crl.refresh("test");
    const text = await crlText((await http("/crl/ca-1.crl")).body);
    const serial = serialOf(readFileSync(renewedFrom, "utf8")).toUpperCase();
    expect(text).toMatch(
      new RegExp(`Serial Number: 0?${serial}\\n(\\s+.+\\n)*?\\s+X509v3 CRL Reason Code:\\s*\\n\\s+Superseded`),
    );
    const verdict = await ssl("verify", "-crl_check", "-crl_download", "-CAfile", files.bundle, renewedFrom);
    expect(verdict.out).toContain("certificate revoked");
  });
});
