import { webcrypto } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { systemClock, type Clock } from "../../ports.js";
import {
  curveOf,
  hashForCurve,
  importSigningKey,
  readCertificate,
  readPrivateKeyPem,
  type PkiPaths,
} from "./key-store.js";

/**
 * The issuing CA's signing material as the CRL publisher and the OCSP responder need it. The
 * certificate is read with @peculiar/x509 (key-store helpers) and handed to pkijs as DER bytes.
 */
export interface IssuerKey {
  /** DER of the issuing CA certificate. */
  readonly der: Uint8Array<ArrayBuffer>;
  /** The same certificate parsed by pkijs. */
  readonly certificate: pkijs.Certificate;
  /** The issuing CA's private key (ECDSA, WebCrypto, sign only). */
  readonly key: CryptoKey;
  /** The signature hash for the CA's curve ("SHA-256" for P-256). */
  readonly hash: string;
  /** The CA's subjectKeyIdentifier (RFC 5280 §4.2.1.2) bytes. */
  readonly keyId: Uint8Array<ArrayBuffer>;
}

/** pkijs signs and hashes with Node's WebCrypto, never with whatever global it finds. */
export const pkijsEngine = new pkijs.CryptoEngine({ name: "node", crypto: webcrypto as unknown as Crypto });

/** Loads the issuing CA certificate and its private key (mode 0600 enforced) from the data dir. */
export async function loadIssuerKey(paths: PkiPaths): Promise<IssuerKey> {
  const x509Certificate = readCertificate(paths.issuingCert);
  const curve = curveOf(x509Certificate);
  const key = await importSigningKey(readPrivateKeyPem(paths.issuingKey), curve);
  const der = new Uint8Array(x509Certificate.rawData);
  const certificate = pkijs.Certificate.fromBER(der);
  return { der, certificate, key, hash: hashForCurve(curve), keyId: subjectKeyId(certificate) };
}

function subjectKeyId(certificate: pkijs.Certificate): Uint8Array<ArrayBuffer> {
  const extension = certificate.extensions?.find((e) => e.extnID === "2.5.29.14");
  if (!extension) throw new Error("issuing CA certificate has no subjectKeyIdentifier");
  const parsed = asn1js.fromBER(extension.extnValue.valueBlock.valueHexView);
  if (parsed.offset === -1 || !(parsed.result instanceof asn1js.OctetString))
    throw new Error("malformed subjectKeyIdentifier");
  return new Uint8Array(parsed.result.valueBlock.valueHexView);
}

/** How long what the issuer signs (a CRL, an OCSP response) is valid, and by which clock. */
export interface SigningSchedule {
  readonly validityMs: number;
  readonly clock: Clock;
}

/** The CRL publisher's and the OCSP responder's options with their defaults filled in. */
export function signingSchedule(
  options: { readonly validityMs?: number; readonly clock?: Clock },
  defaultValidityMs: number,
): SigningSchedule {
  return { validityMs: options.validityMs ?? defaultValidityMs, clock: options.clock ?? systemClock };
}

/** RFC 5280 §4.1.2.5 / §5.1.2.4: whole seconds; UTCTime through 2049, GeneralizedTime from 2050. */
export function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

export function pkixTime(ms: number): pkijs.Time {
  const value = wholeSeconds(ms);
  const type = value.getUTCFullYear() >= 2050 ? pkijs.TimeType.GeneralizedTime : pkijs.TimeType.UTCTime;
  return new pkijs.Time({ type, value });
}

/** A registry serial (normalized lower-case hex) as a DER INTEGER: positive, so 00-prefixed if needed. */
export function serialInteger(serial: string): asn1js.Integer {
  let hex = serial.length % 2 === 1 ? `0${serial}` : serial;
  if (/^[89a-f]/.test(hex)) hex = `00${hex}`;
  return new asn1js.Integer({ valueHex: Buffer.from(hex, "hex") });
}

/** The hex of an INTEGER's content octets (two's complement, as on the wire). */
export function integerHex(value: asn1js.Integer): string {
  return Buffer.from(value.valueBlock.valueHexView).toString("hex");
}
