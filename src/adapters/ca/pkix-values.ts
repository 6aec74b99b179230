import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { systemClock, type Clock, type IssuerKey } from "../../ports.js";
import { signatureAlgorithmOid } from "./signature-algorithm.js";

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

/**
 * The DER of a pkijs/asn1js object. pkijs's typings of asn1js blocks do not resolve against the asn1js
 * the project uses (skipLibCheck reads them as any), so the one call site that needs bytes types them.
 */
export function derOf(block: unknown): Uint8Array<ArrayBuffer> {
  return new Uint8Array((block as { toBER(): ArrayBuffer }).toBER());
}

/** The AlgorithmIdentifier of the key's signatures, as pkijs objects hold it. */
export function pkijsSignatureAlgorithm(key: IssuerKey): pkijs.AlgorithmIdentifier {
  return new pkijs.AlgorithmIdentifier({ algorithmId: signatureAlgorithmOid(key) });
}

/** An ECDSA-Sig-Value from the IssuerKey port, as the BIT STRING a signed structure carries. */
export async function signatureBits(key: IssuerKey, tbs: Uint8Array): Promise<asn1js.BitString> {
  return new asn1js.BitString({ valueHex: await key.sign(tbs) });
}
