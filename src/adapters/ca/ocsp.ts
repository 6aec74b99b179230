import { createHash } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { listedAsRevoked } from "../../domain/certificate-standing.js";
import { normalizeSerial } from "../../domain/identity.js";
import { FIRST_CA_ID } from "../../domain/issuing-cas.js";
import { reasonCode, REVOCATION_REASONS } from "../../domain/revocation-reason.js";
import type { Clock, Registry } from "../../ports.js";
import {
  derOf,
  integerHex,
  pkijsSignatureAlgorithm,
  signatureBits,
  signingSchedule,
  wholeSeconds,
  type SigningSchedule,
} from "./pkix-values.js";
import type { IssuingCa } from "./issuing-ca.js";

/** RFC 6960 §4.2.1 OCSPResponseStatus (4 is not used). */
export const OCSP_RESPONSE_STATUS = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  sigRequired: 5,
  unauthorized: 6,
} as const;
export type OcspResponseStatus = keyof typeof OCSP_RESPONSE_STATUS;
export type OcspCertStatus = "good" | "revoked" | "unknown";

const ID_PKIX_OCSP_BASIC = "1.3.6.1.5.5.7.48.1.1"; // RFC 6960 §4.2.1
const ID_PKIX_OCSP_NONCE = "1.3.6.1.5.5.7.48.1.2"; // RFC 6960 §4.4.1
/** CertID hash algorithms we answer for (RFC 6960 §4.1.1; SHA-1 is what most clients still send). */
const CERT_ID_HASHES: Readonly<Record<string, string>> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};
const DEFAULT_VALIDITY_MS = 3_600_000;
const DEFAULT_MAX_REQUESTS = 64;

export type OcspRegistry = Pick<Registry, "getCertificate">;

export interface OcspResponderOptions {
  /** nextUpdate - thisUpdate of every SingleResponse (RFC 6960 §4.2.2.1). Default 1 h. */
  readonly validityMs?: number;
  readonly clock?: Clock;
  /** More CertIDs than this in one request is malformedRequest. Default 64. */
  readonly maxRequests?: number;
  /** Put the issuing CA certificate into BasicOCSPResponse.certs (§4.2.1). Default true. */
  readonly includeCertificate?: boolean;
  /** Told why a request got internalError (the client only sees the status). */
  readonly onError?: (error: unknown) => void;
}

/** What the responder answered, for logs and tests; `der` is the OCSPResponse. */
export interface OcspAnswer {
  readonly der: Uint8Array<ArrayBuffer>;
  readonly status: OcspResponseStatus;
  readonly certStatuses: readonly OcspCertStatus[];
}

interface ParsedRequest {
  readonly certIds: readonly pkijs.CertID[];
  readonly nonce: pkijs.Extension | undefined;
}

type Lookup = { status: "good" } | { status: "unknown" } | { status: "revoked"; at: number; reason: string };

class MalformedRequest extends Error {}

/** Parses a DER OCSPRequest (RFC 6960 §4.1.1) strictly: one complete DER object, 1..max CertIDs. */
export function parseOcspRequest(der: Uint8Array, maxRequests = DEFAULT_MAX_REQUESTS): ParsedRequest {
  if (der.byteLength === 0) throw new MalformedRequest("empty request");
  const asn1 = asn1js.fromBER(new Uint8Array(der));
  if (asn1.offset === -1 || asn1.offset !== der.byteLength) throw new MalformedRequest("not one DER object");
  let request: pkijs.OCSPRequest;
  try {
    request = new pkijs.OCSPRequest({ schema: asn1.result });
  } catch (error) {
    throw new MalformedRequest("not an OCSPRequest", { cause: error });
  }
  const certIds = request.tbsRequest.requestList.map((r) => r.reqCert);
  if (certIds.length === 0 || certIds.length > maxRequests) throw new MalformedRequest(`${certIds.length} CertIDs`);
  const nonce = request.tbsRequest.requestExtensions?.find((e) => e.extnID === ID_PKIX_OCSP_NONCE);
  return { certIds, nonce };
}

/** An OCSPResponse without responseBytes (§4.2.1: only `successful` carries them). */
export function ocspErrorResponse(status: Exclude<OcspResponseStatus, "successful">): Uint8Array<ArrayBuffer> {
  const response = new pkijs.OCSPResponse({
    responseStatus: new asn1js.Enumerated({ value: OCSP_RESPONSE_STATUS[status] }),
  });
  return new Uint8Array(response.toSchema().toBER());
}

const hex = (bytes: Uint8Array | ArrayBuffer): string =>
  Buffer.from(bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes).toString("hex");

/** An issuing CA the responder answers for: its id (what the registry records) and certificate and key. */
export interface OcspIssuer {
  readonly id: string;
  readonly ca: IssuingCa;
}

/** What identifies a CA in a CertID, per hash algorithm, and its byKey ResponderID. */
interface IssuerIdentity {
  /** hash OID -> issuerNameHash:issuerKeyHash (hex). */
  readonly certIds: ReadonlyMap<string, string>;
  readonly keyHash: Uint8Array<ArrayBuffer>;
}

const identities = new WeakMap<IssuingCa, IssuerIdentity>();

/** Computed once per loaded CA (a reload that keeps a CA keeps its identity). */
function identityOf(ca: IssuingCa): IssuerIdentity {
  let identity = identities.get(ca);
  if (identity !== undefined) return identity;
  // §4.1.1: issuerNameHash over the DER of the issuer's Name; issuerKeyHash over the value of the
  // issuer's subjectPublicKey BIT STRING (without tag, length and unused-bits octets).
  const name = new Uint8Array(ca.pkijsCertificate.subject.toSchema().toBER());
  const key = ca.pkijsCertificate.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView;
  const certIds = new Map(
    Object.entries(CERT_ID_HASHES).map(([oid, alg]) => [oid, `${digest(alg, name)}:${digest(alg, key)}`]),
  );
  // §4.2.2.3: KeyHash ::= OCTET STRING -- SHA-1 hash of the responder's public key.
  identity = { certIds, keyHash: new Uint8Array(createHash("sha1").update(key).digest()) };
  identities.set(ca, identity);
  return identity;
}

function names(issuer: OcspIssuer, certId: pkijs.CertID): boolean {
  const expected = identityOf(issuer.ca).certIds.get(certId.hashAlgorithm.algorithmId);
  const actual = `${hex(certId.issuerNameHash.valueBlock.valueHexView)}:${hex(certId.issuerKeyHash.valueBlock.valueHexView)}`;
  return expected === actual;
}

/**
 * The OCSP responder (RFC 6960) of fleetgate's issuing CAs: one responder per CA, each response signed
 * by the CA itself (§2.6, no delegated responder), identified byKey (§4.2.2.3). During an issuing-CA
 * rollover two CAs are trusted; a request is answered by the CA its first CertID of ours names
 * (issuerNameHash and issuerKeyHash), since one response has one signer.
 *
 * Scope (§2.2, §2.3): a CertID naming another issuer (another of our CAs included), or hashed with an
 * algorithm we do not support, gets the per-certificate status `unknown`; a request in which no CertID
 * names one of our CAs gets `unauthorized` (as RFC 5019 §2.2.3 prescribes for a responder that cannot
 * answer authoritatively). A serial the answering CA never issued is `unknown`.
 */
export class OcspResponder {
  private readonly schedule: SigningSchedule;
  private readonly issuers: () => readonly OcspIssuer[];

  /** `issuers`: the CAs to answer for, asked on every request (a reload changes them); or one CA, as ca-1. */
  constructor(
    private readonly registry: OcspRegistry,
    issuers: IssuingCa | (() => readonly OcspIssuer[]),
    private readonly options: OcspResponderOptions = {},
  ) {
    this.schedule = signingSchedule(options, DEFAULT_VALIDITY_MS);
    this.issuers = typeof issuers === "function" ? issuers : () => [{ id: FIRST_CA_ID, ca: issuers }];
  }

  /** Answers one DER OCSPRequest with a DER OCSPResponse. Never throws: errors become a status. */
  async respond(requestDer: Uint8Array): Promise<OcspAnswer> {
    let request: ParsedRequest;
    try {
      request = parseOcspRequest(requestDer, this.options.maxRequests);
    } catch {
      return { der: ocspErrorResponse("malformedRequest"), status: "malformedRequest", certStatuses: [] };
    }
    const issuers = this.issuers();
    const responder = request.certIds
      .map((certId) => issuers.find((issuer) => names(issuer, certId)))
      .find((issuer) => issuer !== undefined);
    if (responder === undefined)
      return { der: ocspErrorResponse("unauthorized"), status: "unauthorized", certStatuses: [] };
    try {
      return await this.answer(request, responder);
    } catch (error) {
      this.options.onError?.(error);
      return { der: ocspErrorResponse("internalError"), status: "internalError", certStatuses: [] };
    }
  }

  private async lookup(certId: pkijs.CertID, responder: OcspIssuer): Promise<Lookup> {
    if (!names(responder, certId)) return { status: "unknown" };
    const record = await this.registry.getCertificate(normalizeSerial(integerHex(certId.serialNumber)));
    // A serial the registry knows from another of our CAs was never issued by this one.
    if (!record || record.issuer !== responder.id) return { status: "unknown" };
    if (!listedAsRevoked(record)) return { status: "good" };
    return {
      status: "revoked",
      at: record.revokedAt ?? record.issuedAt,
      reason: record.revocationReason ?? "unspecified",
    };
  }

  private async answer(request: ParsedRequest, responder: OcspIssuer): Promise<OcspAnswer> {
    const now = this.schedule.clock.now();
    const lookups = await Promise.all(request.certIds.map((id) => this.lookup(id, responder)));
    const responses = request.certIds.map(
      (certID, i) =>
        new pkijs.SingleResponse({
          certID, // §4.2.2.3 / RFC 5019 §2.2.1: the CertID exactly as the client sent it
          certStatus: certStatusBlock(lookups[i]!),
          thisUpdate: wholeSeconds(now),
          nextUpdate: wholeSeconds(now + this.schedule.validityMs),
        }),
    );
    const der = await this.signBasic(responder.ca, responses, request.nonce, now);
    return { der, status: "successful", certStatuses: lookups.map((l) => l.status) };
  }

  private async signBasic(
    ca: IssuingCa,
    responses: pkijs.SingleResponse[],
    nonce: pkijs.Extension | undefined,
    now: number,
  ): Promise<Uint8Array<ArrayBuffer>> {
    const tbsResponseData = new pkijs.ResponseData({
      responderID: new asn1js.OctetString({ valueHex: identityOf(ca).keyHash }), // byKey [2]
      producedAt: wholeSeconds(now),
      responses,
      // §4.4.1: the nonce, if the request carried one, is echoed unchanged.
      ...(nonce ? { responseExtensions: [nonce] } : {}),
    });
    const basic = new pkijs.BasicOCSPResponse({ tbsResponseData });
    if (this.options.includeCertificate ?? true) basic.certs = [ca.pkijsCertificate];
    basic.signatureAlgorithm = pkijsSignatureAlgorithm(ca.key);
    tbsResponseData.tbsView = derOf(tbsResponseData.toSchema(true));
    basic.signature = await signatureBits(ca.key, tbsResponseData.tbsView);
    const response = new pkijs.OCSPResponse({
      responseStatus: new asn1js.Enumerated({ value: OCSP_RESPONSE_STATUS.successful }),
      responseBytes: new pkijs.ResponseBytes({
        responseType: ID_PKIX_OCSP_BASIC,
        response: new asn1js.OctetString({ valueHex: basic.toSchema().toBER() }),
      }),
    });
    return new Uint8Array(response.toSchema().toBER());
  }
}

function digest(algorithm: string, data: Uint8Array): string {
  return createHash(algorithm).update(data).digest("hex");
}

/**
 * §4.2.1 CertStatus ::= CHOICE { good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo,
 * unknown [2] IMPLICIT UnknownInfo }; RevokedInfo ::= SEQUENCE { revocationTime GeneralizedTime,
 * revocationReason [0] EXPLICIT CRLReason OPTIONAL } (absent for unspecified, as in RFC 5280 §5.3.1).
 */
function certStatusBlock(lookup: Lookup): asn1js.BaseBlock {
  if (lookup.status === "good") return new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 } });
  if (lookup.status === "unknown") return new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 2 } });
  const value: asn1js.BaseBlock[] = [new asn1js.GeneralizedTime({ valueDate: wholeSeconds(lookup.at) })];
  const code = reasonCode(lookup.reason);
  if (code !== REVOCATION_REASONS.unspecified) {
    value.push(
      new asn1js.Constructed({
        idBlock: { tagClass: 3, tagNumber: 0 },
        value: [new asn1js.Enumerated({ value: code })],
      }),
    );
  }
  return new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 1 }, value });
}
