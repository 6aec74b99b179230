import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initPki } from "../../../provisioning/init-pki.js";
import { CaKeys } from "../../../src/adapters/ca/ca-keys.js";
import { caFiles } from "../../../src/adapters/ca/ca-manifest.js";
import { CrlPublisher, signCrl, type CrlRegistry } from "../../../src/adapters/ca/crl.js";
import { loadIssuingCa, type IssuingCa } from "../../../src/adapters/ca/issuing-ca.js";
import { serialInteger } from "../../../src/adapters/ca/pkix-values.js";
import { pkiPaths, type PkiPaths } from "../../../src/adapters/shared/key-files.js";
import { pemToDer } from "../../../src/adapters/shared/pem.js";
import { OcspResponder, parseOcspRequest, type OcspRegistry } from "../../../src/adapters/ca/ocsp.js";
import { ocspGetRequestDer } from "../../../src/adapters/http/pki-server.js";
import type { CertificateRecord, RegistryTx, RevokedCertificate } from "../../../src/ports.js";
import { makeTempDir, runAsync, type TempDir } from "../../helpers/certs.js";

/** CrlPublisher and OcspResponder against fake registries, with a PKI made by `fleetgate init`'s code. */

let dataDir: string;
let paths: PkiPaths;
let issuer: IssuingCa;
let tmp: TempDir;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "fleetgate-pki-units-"));
  paths = pkiPaths(dataDir);
  await initPki(paths, { hostnames: ["localhost"] }, new CaKeys(paths, undefined, {}));
  issuer = loadIssuingCa({ issuingCert: paths.issuingCert, issuingKey: caFiles(paths, "ca-1").key });
  tmp = makeTempDir("fleetgate-pki-units-files-");
});
afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
  tmp?.remove();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function crlText(der: Uint8Array): Promise<{ code: number; out: string }> {
  const file = tmp.file(`crl-${Math.random().toString(36).slice(2)}.der`, der);
  const result = await runAsync("openssl", [
    "crl",
    "-inform",
    "DER",
    "-in",
    file,
    "-CAfile",
    paths.caBundle,
    "-noout",
    "-text",
  ]);
  return { code: result.code, out: `${result.stdout}${result.stderr}` };
}

/**
 * A registry whose units of work see only the CRL state: `calls` counts the numbers handed out, `fail`
 * makes the next units throw, `delayMs` makes them take a random while (the publisher must serialize).
 */
function countingRegistry(
  revoked: RevokedCertificate[] = [],
  delayMs = 0,
): CrlRegistry & { calls: number; fail: boolean } {
  let number = 0;
  const tx = {
    crlState: async () => (number === 0 ? undefined : { number, thisUpdate: 0 }),
    revokedCertificates: async () => revoked,
    saveCrl: async (crl: { number: number }) => void (number = crl.number),
  } as Partial<RegistryTx> as RegistryTx;
  const registry = {
    calls: 0,
    fail: false,
    currentCrl: async () => undefined,
    async transact<T>(work: (tx: RegistryTx) => Promise<T>): Promise<T> {
      if (registry.fail) throw new Error("registry down");
      registry.calls += 1;
      if (delayMs) await sleep(Math.random() * delayMs);
      return work(tx);
    },
  };
  return registry;
}

/** What main.ts does: the first CRL signed at once, then the re-sign timer. */
async function startedPublisher(registry: CrlRegistry, options: ConstructorParameters<typeof CrlPublisher>[2]) {
  const publisher = new CrlPublisher(registry, issuer, options);
  await publisher.refresh("startup");
  publisher.start();
  return publisher;
}

describe("signCrl", () => {
  it("omits revokedCertificates entirely when nothing is revoked (RFC 5280 §5.1.2.6)", async () => {
    const text = await crlText(await signCrl(issuer, 7, Date.now(), 3_600_000, []));
    expect(text.code).toBe(0);
    expect(text.out).toContain("verify OK");
    expect(text.out).toContain("No Revoked Certificates.");
    expect(text.out).toMatch(/CRL Number:\s*\n\s*7\n/);
  });

  it("gives unspecified entries no extensions, and encodes high-bit and odd-length serials as positive INTEGERs", async () => {
    const at = Date.UTC(2030, 0, 2, 3, 4, 5, 678);
    const revoked = [
      { serial: "8f01", status: "revoked", revokedAt: at, reason: "unspecified", notAfter: at },
      { serial: "abc", status: "revoked", revokedAt: at, reason: "cessationOfOperation", notAfter: at },
    ] as const;
    const text = (await crlText(await signCrl(issuer, 1, Date.now(), 3_600_000, revoked))).out;
    expect(text).toMatch(
      /Serial Number: 8F01\n\s+Revocation Date: Jan {2}2 03:04:05 2030 GMT\n\s+Serial Number: 0ABC\n/,
    );
    expect(text).toMatch(
      /0ABC\n.+\n\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code:\s*\n\s+Cessation Of Operation/,
    );
  });
});

describe("CrlPublisher", () => {
  it("has no CRL before the first refresh", () => {
    const publisher = new CrlPublisher(countingRegistry(), issuer);
    expect(() => publisher.der).toThrow(/no CRL/);
    expect(publisher.crlNumber).toBe(0);
  });

  it("serializes concurrent refreshes: the CRL it serves carries the highest number", async () => {
    const refreshes: number[] = [];
    const publisher = new CrlPublisher(countingRegistry([], 20), issuer, {
      onRefresh: (info) => refreshes.push(info.crlNumber),
    });
    await Promise.all([1, 2, 3, 4, 5].map(() => publisher.refresh("test")));
    expect(refreshes).toEqual([1, 2, 3, 4, 5]);
    expect(publisher.crlNumber).toBe(5);
    expect((await crlText(publisher.der)).out).toMatch(/CRL Number:\s*\n\s*5\n/);
  });

  it("signs at once and re-signs on its timer at half the validity; stop() ends that", async () => {
    const registry = countingRegistry();
    const publisher = await startedPublisher(registry, { validityMs: 2_000 });
    try {
      expect(publisher.crlNumber).toBe(1);
      await sleep(1_400);
      expect(publisher.crlNumber).toBeGreaterThanOrEqual(2);
      const text = (await crlText(publisher.der)).out;
      const last = Date.parse(/Last Update: (.+)/.exec(text)![1]!);
      expect(Date.parse(/Next Update: (.+)/.exec(text)![1]!) - last).toBe(2_000);
    } finally {
      publisher.stop();
    }
    const stopped = publisher.crlNumber;
    await sleep(1_200);
    expect(publisher.crlNumber).toBe(stopped);
  });

  it("keeps serving the previous CRL when a timer re-sign fails, and reports the error", async () => {
    const errors: unknown[] = [];
    const registry = countingRegistry();
    const publisher = await startedPublisher(registry, { validityMs: 2_000, onError: (e) => errors.push(e) });
    const first = publisher.der;
    registry.fail = true;
    await sleep(1_300);
    publisher.stop();
    expect(errors).toEqual([expect.objectContaining({ message: "registry down" })]);
    expect(publisher.der).toBe(first);
  });
});

const HASH_OIDS = { sha1: "1.3.14.3.2.26", sha256: "2.16.840.1.101.3.4.2.1", md5: "1.2.840.113549.2.5" } as const;

function certId(
  serial: string,
  hash: keyof typeof HASH_OIDS = "sha1",
  of: pkijs.Certificate = issuer.pkijsCertificate,
): pkijs.CertID {
  const digest = (data: Uint8Array) => new Uint8Array(createHash(hash).update(data).digest());
  return new pkijs.CertID({
    hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: HASH_OIDS[hash], algorithmParams: new asn1js.Null() }),
    issuerNameHash: new asn1js.OctetString({ valueHex: digest(new Uint8Array(of.subject.toSchema().toBER())) }),
    issuerKeyHash: new asn1js.OctetString({
      valueHex: digest(of.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView),
    }),
    serialNumber: serialInteger(serial),
  });
}

function requestDer(...ids: pkijs.CertID[]): Uint8Array {
  const request = new pkijs.OCSPRequest();
  request.tbsRequest.requestList = ids.map((reqCert) => new pkijs.Request({ reqCert }));
  return new Uint8Array(request.toSchema(true).toBER());
}

function record(
  serial: string,
  status: CertificateRecord["status"],
  revocationReason: string | null = null,
): CertificateRecord {
  const revokedAt = status === "revoked" ? Date.UTC(2031, 5, 6, 7, 8, 9) : null;
  return {
    serial,
    deviceId: "d",
    pem: "",
    notBefore: 0,
    notAfter: 0,
    status,
    issuedAt: 0,
    revokedAt,
    revocationReason,
    issuer: "ca-1",
  };
}

function fakeRegistry(records: CertificateRecord[]): OcspRegistry {
  return { getCertificate: async (serial) => records.find((r) => r.serial === serial) };
}

function singleResponses(der: Uint8Array<ArrayBuffer>): pkijs.SingleResponse[] {
  const response = pkijs.OCSPResponse.fromBER(der);
  return pkijs.BasicOCSPResponse.fromBER(new Uint8Array(response.responseBytes!.response.valueBlock.valueHexView))
    .tbsResponseData.responses;
}

describe("OcspResponder", () => {
  it("answers superseded certificates revoked (superseded), and revoked ones with time and (only if specified) reason", async () => {
    const responder = new OcspResponder(
      fakeRegistry([record("0a", "active"), record("0b", "revoked"), record("0c", "superseded", "superseded")]),
      issuer,
    );
    const answer = await responder.respond(requestDer(certId("0a"), certId("0b", "sha256"), certId("0c")));
    expect([answer.status, answer.certStatuses]).toEqual(["successful", ["good", "revoked", "revoked"]]);
    const [, unspecified, superseded] = singleResponses(answer.der).map((r) => r.certStatus as asn1js.Constructed);
    expect(unspecified!.valueBlock.value.length).toBe(1); // revocationTime only
    expect((unspecified!.valueBlock.value[0] as asn1js.GeneralizedTime).toDate().getTime()).toBe(
      Date.UTC(2031, 5, 6, 7, 8, 9),
    );
    const reason = superseded!.valueBlock.value[1] as asn1js.Constructed;
    expect((reason.valueBlock.value[0] as asn1js.Enumerated).valueBlock.valueDec).toBe(4);
  });

  it("answers a foreign issuer's CertID unknown next to one of ours, and unauthorized when none is ours", async () => {
    const foreign = pkijs.Certificate.fromBER(pemToDer(readFileSync(paths.rootCert, "utf8"), ["CERTIFICATE"])!); // another issuer
    const responder = new OcspResponder(fakeRegistry([record("0a", "active")]), issuer);
    const mixed = await responder.respond(requestDer(certId("0a"), certId("0a", "sha1", foreign)));
    expect([mixed.status, mixed.certStatuses]).toEqual(["successful", ["good", "unknown"]]);
    expect((await responder.respond(requestDer(certId("0a", "sha1", foreign)))).status).toBe("unauthorized");
    expect((await responder.respond(requestDer(certId("0a", "md5")))).status).toBe("unauthorized");
  });

  it("answers internalError, never throws, when the registry fails", async () => {
    const errors: unknown[] = [];
    const responder = new OcspResponder({ getCertificate: async () => Promise.reject(new Error("db gone")) }, issuer, {
      onError: (e) => errors.push(e),
    });
    const answer = await responder.respond(requestDer(certId("0a")));
    expect(answer.status).toBe("internalError");
    expect(Buffer.from(answer.der).toString("hex")).toBe("30030a0102");
    expect(errors).toHaveLength(1);
  });

  it("treats more CertIDs than maxRequests as malformedRequest", async () => {
    const responder = new OcspResponder(fakeRegistry([]), issuer, { maxRequests: 2 });
    expect((await responder.respond(requestDer(certId("01"), certId("02"), certId("03")))).status).toBe(
      "malformedRequest",
    );
    expect(() => parseOcspRequest(requestDer())).toThrow();
  });
});

describe("ocspGetRequestDer (RFC 6960 Appendix A.1)", () => {
  const der = Buffer.from([0x30, 0xfb, 0xff, 0x3e, 0x01]); // base64 "MPv/PgE=" has '/' and '='
  it("decodes the URL-encoded form, the unencoded form and the URL-safe alphabet, ignoring a query", () => {
    for (const path of ["/ocsp/MPv%2FPgE%3D", "/ocsp/MPv/PgE=", "/ocsp/MPv_PgE=?x=1"]) {
      expect(Buffer.from(ocspGetRequestDer(path)).equals(der)).toBe(true);
    }
  });
  it("yields no bytes for what is not base64", () => {
    expect(ocspGetRequestDer("/ocsp/a*b").length).toBe(0);
    expect(ocspGetRequestDer("/ocsp/%E0%A4%A").length).toBe(0);
  });
});

describe("CrlPublisher: which certificates a CRL lists, and coalesced re-signing", () => {
  it("asks for its own issuer's certificates and lists a revoked one a CRL validity past expiry, a superseded one until expiry", async () => {
    const now = Date.now();
    const queries: unknown[] = [];
    const revoked: RevokedCertificate[] = [
      { serial: "01", status: "revoked", revokedAt: now - 10, reason: "keyCompromise", notAfter: now - 1_000 },
      { serial: "02", status: "revoked", revokedAt: now - 10, reason: "keyCompromise", notAfter: now - 5_000 },
      { serial: "03", status: "superseded", revokedAt: now - 10, reason: "superseded", notAfter: now + 1_000 },
      { serial: "04", status: "superseded", revokedAt: now - 10, reason: "superseded", notAfter: now - 1_000 },
    ];
    const registry = countingRegistry(revoked);
    const tx = await registry.transact(async (t) => t);
    const original = tx.revokedCertificates.bind(tx);
    tx.revokedCertificates = async (query) => (queries.push(query), original(query));
    const publisher = new CrlPublisher(registry, issuer, { issuerId: "ca-7", validityMs: 2_000 });
    const text = (await crlText(await publisher.refresh("test"))).out;
    expect(queries).toEqual([{ issuer: "ca-7", notAfterFrom: expect.any(Number) }]);
    expect(text).toMatch(/Serial Number: 01\n/);
    expect(text).not.toMatch(/Serial Number: 02\n/);
    expect(text).toMatch(/Serial Number: 03\n(.+\n)*?\s+Superseded/);
    expect(text).not.toMatch(/Serial Number: 04\n/);
  });

  it("signs once for a burst of renewals, coalesceMs after the first", async () => {
    const registry = countingRegistry();
    const signed: number[] = [];
    const publisher = new CrlPublisher(registry, issuer, {
      coalesceMs: 200,
      onRefresh: (i) => signed.push(i.crlNumber),
    });
    for (let i = 0; i < 20; i++) publisher.refreshSoon();
    expect(signed).toEqual([]);
    await sleep(400);
    expect(signed).toEqual([1]);
    publisher.refreshSoon();
    publisher.stop(); // a pending coalesced re-sign is cancelled with the publisher
    await sleep(300);
    expect(signed).toEqual([1]);
  });
});

describe("OcspResponder with two issuing CAs (rollover)", () => {
  let other: IssuingCa;
  let otherDir: string;
  beforeAll(async () => {
    otherDir = mkdtempSync(join(tmpdir(), "fleetgate-pki-units-2-"));
    const otherPaths = pkiPaths(otherDir);
    await initPki(otherPaths, { hostnames: [] }, new CaKeys(otherPaths, undefined, {}));
    other = loadIssuingCa({ issuingCert: otherPaths.issuingCert, issuingKey: caFiles(otherPaths, "ca-1").key });
  });
  afterAll(() => rmSync(otherDir, { recursive: true, force: true }));

  const responderKeyHash = (der: Uint8Array<ArrayBuffer>) => {
    const response = pkijs.OCSPResponse.fromBER(der);
    const basic = pkijs.BasicOCSPResponse.fromBER(
      new Uint8Array(response.responseBytes!.response.valueBlock.valueHexView),
    );
    return Buffer.from((basic.tbsResponseData.responderID as asn1js.OctetString).valueBlock.valueHexView).toString(
      "hex",
    );
  };
  const keyHash = (ca: IssuingCa) =>
    createHash("sha1")
      .update(ca.pkijsCertificate.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView)
      .digest("hex");

  it("answers each CertID's CA with that CA's key, and only for serials that CA issued", async () => {
    const records = [record("0a", "active"), { ...record("0b", "revoked"), issuer: "ca-2" }];
    const responder = new OcspResponder(fakeRegistry(records), () => [
      { id: "ca-2", ca: other },
      { id: "ca-1", ca: issuer },
    ]);
    const byOne = await responder.respond(requestDer(certId("0a"), certId("0b")));
    expect([byOne.status, byOne.certStatuses]).toEqual(["successful", ["good", "unknown"]]);
    expect(responderKeyHash(byOne.der)).toBe(keyHash(issuer));
    const byTwo = await responder.respond(requestDer(certId("0b", "sha1", other.pkijsCertificate), certId("0a")));
    expect([byTwo.status, byTwo.certStatuses]).toEqual(["successful", ["revoked", "unknown"]]);
    expect(responderKeyHash(byTwo.der)).toBe(keyHash(other));
    // ca-1's serial asked about under ca-2: ca-2 never issued it.
    const crossed = await responder.respond(requestDer(certId("0a", "sha1", other.pkijsCertificate)));
    expect(crossed.certStatuses).toEqual(["unknown"]);
  });

  it("stops answering for a CA once the set no longer holds it (retired)", async () => {
    let issuers = [
      { id: "ca-2", ca: other },
      { id: "ca-1", ca: issuer },
    ];
    const responder = new OcspResponder(fakeRegistry([record("0a", "active")]), () => issuers);
    expect((await responder.respond(requestDer(certId("0a")))).status).toBe("successful");
    issuers = [{ id: "ca-2", ca: other }];
    expect((await responder.respond(requestDer(certId("0a")))).status).toBe("unauthorized");
  });
});
