import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { x509 } from "../../../src/adapters/shared/x509.js";
import { findChainBreak } from "../../../src/domain/audit-chain.js";
import { hashToken } from "../../../src/domain/bootstrap-token.js";
import {
  extensionValue,
  inspectCertificate,
  opensslVerify,
  sameCertificate,
  serialOf,
  webCryptoCsr,
} from "../../helpers/certs.js";
import { opensslCsr, startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { postJson, type HttpsResponse } from "../../helpers/https.js";
import { allAudit } from "../../helpers/registry.js";

const DAY_MS = 86_400_000;
const EC_P256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

interface EnrollBody {
  deviceId: string;
  certificate: string;
  chain: string[];
  notAfter: string;
}

let fg: TestFleetgate;
let issuingPem: string;

beforeAll(async () => {
  fg = await startTestFleetgate();
  issuingPem = fg.running.deps.signer.issuingCaPem;
});
afterAll(async () => fg?.close());

function enroll(token: string, csr: string): Promise<HttpsResponse> {
  return postJson(fg.enrollUrl, "/v1/enroll", { token, csr }, fg.rootCaPem);
}

function expectRefused(res: HttpsResponse, status: number, code: string): void {
  expect({ status: res.status, body: res.json() }).toEqual({ status, body: { code, message: expect.any(String) } });
}

async function usesLeft(token: string): Promise<number | undefined> {
  return (await fg.running.registry.findTokenByHash(hashToken(token)))?.usesLeft;
}

describe("POST /v1/enroll with an openssl CSR", () => {
  let body: EnrollBody;
  let t0: number;
  let t1: number;
  let token: string;

  beforeAll(async () => {
    token = await fg.token({ deviceId: "dev-1" });
    const { csrPem } = opensslCsr("/CN=dev-1");
    t0 = Date.now();
    const res = await enroll(token, csrPem);
    t1 = Date.now();
    expect(res.status).toBe(201);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    body = res.json<EnrollBody>();
  });

  it("answers 201 with the device id, certificate, issuing CA chain and notAfter", () => {
    expect(Object.keys(body).sort()).toEqual(["certificate", "chain", "deviceId", "notAfter"]);
    expect(body.deviceId).toBe("dev-1");
    expect(body.certificate).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n?$/);
    expect(body.chain).toHaveLength(1);
    expect(sameCertificate(body.chain[0]!, issuingPem)).toBe(true);
    const certNotAfter = new x509.X509Certificate(body.certificate).notAfter.getTime();
    expect(Math.floor(Date.parse(body.notAfter) / 1000)).toBe(certNotAfter / 1000);
  });

  it("verifies with openssl verify -CAfile root -untrusted issuing", () => {
    const result = opensslVerify(body.certificate, fg.rootCaPem, body.chain[0]!);
    expect(result.output).toMatch(/: OK/);
    expect(result.ok).toBe(true);
  });

  it("does not verify against a chain it was not issued by (the check can fail)", () => {
    const result = opensslVerify(body.certificate, fg.rootCaPem, fg.rootCaPem);
    expect(result.ok).toBe(false);
  });

  it("has exactly the subject CN=dev-1, OU=device", () => {
    expect(inspectCertificate(body.certificate).subject).toBe("OU=device,CN=dev-1"); // RFC 2253 lists the last RDN first
  });

  it("carries only the CA's extensions (openssl x509 -text)", () => {
    const { text } = inspectCertificate(body.certificate);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
    expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage: ?\n\s+TLS Web Client Authentication\n/);
    expect(text).toMatch(/X509v3 Subject Key Identifier: ?\n\s+[0-9A-F:]+\n/);
    expect(text).not.toMatch(/Subject Alternative Name/);
    const base = fg.config.pki.publicUrl.replace(/\/+$/, "");
    expect(text).toMatch(
      new RegExp(`X509v3 CRL Distribution Points: ?\\n\\s+Full Name:\\n\\s+URI:${base}/crl/ca-1\\.crl\\n`),
    );
    expect(text).toMatch(new RegExp(`Authority Information Access: ?\\n\\s+OCSP - URI:${base}/ocsp\\n`));
    const extensions = [...text.matchAll(/^ {12}(\S.*?):( critical)?\s*$/gm)].map((m) => m[1]);
    expect(extensions.sort()).toEqual([
      "Authority Information Access",
      "X509v3 Authority Key Identifier",
      "X509v3 Basic Constraints",
      "X509v3 CRL Distribution Points",
      "X509v3 Extended Key Usage",
      "X509v3 Key Usage",
      "X509v3 Subject Key Identifier",
    ]);
  });

  it("has an AKI equal to the issuing CA's SKI, and an SKI of its own key", () => {
    const device = inspectCertificate(body.certificate).text;
    const issuing = inspectCertificate(issuingPem).text;
    const issuingSki = extensionValue(issuing, "X509v3 Subject Key Identifier");
    expect(issuingSki).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    expect(extensionValue(device, "X509v3 Authority Key Identifier")).toBe(issuingSki);
    expect(extensionValue(device, "X509v3 Subject Key Identifier")).not.toBe(issuingSki);
  });

  it("has a 16-byte serial with the top bit clear", () => {
    const { serialHex } = inspectCertificate(body.certificate);
    expect(serialHex).toMatch(/^[0-7][0-9A-F]{31}$/);
    expect(serialHex.slice(0, 2)).not.toBe("00");
  });

  it("is backdated 5 minutes and lives 90 days", () => {
    const certificate = new x509.X509Certificate(body.certificate);
    const notBefore = certificate.notBefore.getTime();
    const notAfter = certificate.notAfter.getTime();
    // Certificate times have whole seconds; the issue time lies between t0 and t1.
    expect(notBefore).toBeGreaterThanOrEqual(Math.floor((t0 - 5 * 60_000) / 1000) * 1000);
    expect(notBefore).toBeLessThanOrEqual(t1 - 5 * 60_000);
    expect(notAfter - notBefore).toBe(90 * DAY_MS + 5 * 60_000);
  });

  it("is recorded: device active, certificate active, token spent, audit chained", async () => {
    const registry = fg.running.registry;
    const serial = serialOf(body.certificate);
    expect(await registry.getDevice("dev-1")).toMatchObject({ status: "active", role: "device", profile: "device" });
    expect(await registry.getCertificate(serial)).toMatchObject({ deviceId: "dev-1", status: "active" });
    expect(sameCertificate((await registry.getCertificate(serial))!.pem, body.certificate)).toBe(true);
    expect(await usesLeft(token)).toBe(0);
    const audit = await allAudit(registry);
    expect(
      audit.some((e) => e.action === "device.enrolled" && e.subject === "dev-1" && e.details["serial"] === serial),
    ).toBe(true);
    expect(findChainBreak(audit)).toBeNull();
  });

  it("refuses the same token a second time", async () => {
    expectRefused(await enroll(token, opensslCsr("/CN=dev-1").csrPem), 401, "token_used");
  });
});

describe("CSRs from different makers and keys", () => {
  it.each<[string, () => Promise<{ csrPem: string }>]>([
    ["WebCrypto ECDSA P-256", () => webCryptoCsr([{ CN: ["wc-p256"] }], { curve: "P-256" })],
    ["WebCrypto ECDSA P-384", () => webCryptoCsr([{ CN: ["wc-p384"] }], { curve: "P-384" })],
    ["WebCrypto RSA-2048", () => webCryptoCsr([{ CN: ["wc-rsa2048"] }], { rsaBits: 2048 })],
    [
      "openssl EC P-384",
      async () => opensslCsr("/CN=os-p384", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]),
    ],
  ])("%s enrolls, and the certificate holds the CSR's key", async (_label, make) => {
    const { csrPem } = await make();
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    const cn = csr.subjectName.getField("CN")[0]!;
    const res = await enroll(await fg.token({ deviceId: cn }), csrPem);
    expect(res.status).toBe(201);
    const issued = res.json<EnrollBody>();
    const certificate = new x509.X509Certificate(issued.certificate);
    expect(Buffer.from(certificate.publicKey.rawData).equals(Buffer.from(csr.publicKey.rawData))).toBe(true);
    expect(opensslVerify(issued.certificate, fg.rootCaPem, issuingPem).ok).toBe(true);
  });
});

describe("group tokens", () => {
  it("enroll N devices under the prefix, then refuse with token_used", async () => {
    const token = await fg.token({ prefix: "fab-", uses: 3 });
    for (const id of ["fab-1", "fab-2", "fab-3"]) {
      const res = await enroll(token, opensslCsr(`/CN=${id}`).csrPem);
      expect(res.status, id).toBe(201);
      expect(res.json<EnrollBody>().deviceId).toBe(id);
    }
    expectRefused(await enroll(token, opensslCsr("/CN=fab-4").csrPem), 401, "token_used");
    expect(await fg.running.registry.getDevice("fab-4")).toBeUndefined();
  });

  it("refuse a CN outside the prefix with cn_mismatch, without spending a use", async () => {
    const token = await fg.token({ prefix: "line7-", uses: 2 });
    for (const cn of ["other-1", "line7-", "xline7-1", "LINE7-1"]) {
      expectRefused(await enroll(token, opensslCsr(`/CN=${cn}`).csrPem), 403, "cn_mismatch");
    }
    expect(await usesLeft(token)).toBe(2);
    expect(await fg.running.registry.getDevice("other-1")).toBeUndefined();
  });

  it("cannot re-enroll an existing device id (device_exists), without spending a use", async () => {
    const single = await fg.token({ deviceId: "grp-existing" });
    expect((await enroll(single, opensslCsr("/CN=grp-existing").csrPem)).status).toBe(201);
    const group = await fg.token({ prefix: "grp-", uses: 2 });
    expectRefused(await enroll(group, opensslCsr("/CN=grp-existing").csrPem), 403, "device_exists");
    expect(await usesLeft(group)).toBe(2);
    expect(await fg.running.registry.listCertificates("grp-existing")).toHaveLength(1);
  });
});

describe("the CSR chooses nothing but the key and the CN", () => {
  it("a CSR requesting CA:true is refused with csr_requests_ca", async () => {
    const token = await fg.token({ deviceId: "wants-ca" });
    const { csrPem } = opensslCsr("/CN=wants-ca", EC_P256, ["-addext", "basicConstraints=critical,CA:TRUE"]);
    expectRefused(await enroll(token, csrPem), 403, "csr_requests_ca");
    expect(await fg.running.registry.getDevice("wants-ca")).toBeUndefined();
    expect(await usesLeft(token)).toBe(1);
  });

  it("extra EKUs, SANs, key usages and subject attributes in the CSR are not copied", async () => {
    const token = await fg.token({ deviceId: "greedy-1" });
    const { csrPem } = opensslCsr("/CN=greedy-1/O=Evil Corp/OU=service", EC_P256, [
      "-addext",
      "extendedKeyUsage=serverAuth,codeSigning,clientAuth",
      "-addext",
      "subjectAltName=DNS:evil.example,IP:10.0.0.1,URI:spiffe://evil/x",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
      "-addext",
      "basicConstraints=CA:FALSE,pathlen:3",
    ]);
    const res = await enroll(token, csrPem);
    expect(res.status).toBe(201);
    const { text, subject } = inspectCertificate(res.json<EnrollBody>().certificate);
    expect(subject).toBe("OU=device,CN=greedy-1");
    expect(text).not.toMatch(
      /Subject Alternative Name|evil|Server Authentication|Code Signing|Certificate Sign|CRL Sign|pathlen/i,
    );
    expect(extensionValue(text, "X509v3 Extended Key Usage")).toBe("TLS Web Client Authentication");
    expect(extensionValue(text, "X509v3 Key Usage")).toBe("Digital Signature");
    expect(extensionValue(text, "X509v3 Basic Constraints")).toBe("CA:FALSE");
  });

  it("the role comes from the token's profile", async () => {
    const token = await fg.token({ deviceId: "svc-1", profile: "service" });
    const res = await enroll(token, opensslCsr("/CN=svc-1/OU=device").csrPem);
    expect(res.status).toBe(201);
    expect(inspectCertificate(res.json<EnrollBody>().certificate).subject).toBe("OU=service,CN=svc-1");
    expect(await fg.running.registry.getDevice("svc-1")).toMatchObject({ role: "service", profile: "service" });
  });

  it("a single-device token refuses another CN with cn_mismatch", async () => {
    const token = await fg.token({ deviceId: "mine-1" });
    expectRefused(await enroll(token, opensslCsr("/CN=mine-2").csrPem), 403, "cn_mismatch");
    expect(await usesLeft(token)).toBe(1);
  });
});
