import { createHash } from "node:crypto";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import * as asnX509 from "@peculiar/asn1-x509";
import type { IssuerKey } from "../../ports.js";
import { DER_TAG, tlv } from "../shared/der.js";
import { x509 } from "../shared/x509.js";
import { signatureAlgorithmDer, signatureAlgorithmIdentifier } from "./signature-algorithm.js";

/** Everything of a TBSCertificate (RFC 5280 §4.1.2) but the signature algorithm, which the key decides. */
export interface CertificateFields {
  /** Positive, minimal DER INTEGER content octets as hex (see randomSerial). */
  readonly serialHex: string;
  readonly issuer: asnX509.Name;
  readonly subject: asnX509.Name;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subjectPublicKeyInfo: asnX509.SubjectPublicKeyInfo;
  readonly extensions: readonly asnX509.Extension[];
}

/**
 * Signs a certificate through the IssuerKey port: the TBSCertificate is built with @peculiar/asn1-x509,
 * the key signs its DER, and the three parts are joined as DER (never parsed back). The one signing
 * path for device, operator, server and CA certificates, whatever holds the key.
 */
export async function signCertificate(fields: CertificateFields, key: IssuerKey): Promise<Buffer> {
  const tbs = new asnX509.TBSCertificate({
    version: asnX509.Version.v3,
    serialNumber: new Uint8Array(Buffer.from(fields.serialHex, "hex")).buffer,
    signature: signatureAlgorithmIdentifier(key),
    issuer: fields.issuer,
    validity: new asnX509.Validity({ notBefore: fields.notBefore, notAfter: fields.notAfter }),
    subject: fields.subject,
    subjectPublicKeyInfo: fields.subjectPublicKeyInfo,
    extensions: new asnX509.Extensions([...fields.extensions]),
  });
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  const signature = await key.sign(tbsDer);
  return tlv(DER_TAG.sequence, tbsDer, signatureAlgorithmDer(key), tlv(DER_TAG.bitString, Uint8Array.of(0), signature));
}

export function parseSpki(spki: Uint8Array): asnX509.SubjectPublicKeyInfo {
  return AsnConvert.parse(spki, asnX509.SubjectPublicKeyInfo);
}

/**
 * RFC 5280 §4.1.2.6 / §4.1.2.4: PrintableString where the value allows it, UTF8String otherwise (a
 * device id may hold `_`), the same choice @peculiar/x509's Name makes, without its round trip.
 */
export function nameOf(attributes: readonly (readonly [oid: string, value: string])[]): asnX509.Name {
  return new asnX509.Name(
    attributes.map(([type, text]) => {
      const value = new asnX509.AttributeValue(
        x509.Name.isPrintableString(text) ? { printableString: text } : { utf8String: text },
      );
      return new asnX509.RelativeDistinguishedName([new asnX509.AttributeTypeAndValue({ type, value })]);
    }),
  );
}

/** A certificate's subject, as the issuer name of what it signs. */
export function subjectOf(certificate: x509.X509Certificate): asnX509.Name {
  return AsnConvert.parse(certificate.subjectName.toArrayBuffer(), asnX509.Name);
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's value. */
export function keyIdentifier(spki: asnX509.SubjectPublicKeyInfo): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash("sha1").update(new Uint8Array(spki.subjectPublicKey)).digest());
}

export function subjectKeyIdentifier(spki: asnX509.SubjectPublicKeyInfo): asnX509.Extension {
  const value = AsnConvert.serialize(new asnX509.SubjectKeyIdentifier(keyIdentifier(spki).buffer));
  return new asnX509.Extension({
    extnID: asnX509.id_ce_subjectKeyIdentifier,
    critical: false,
    extnValue: new OctetString(value),
  });
}

/** @peculiar/x509 extension objects (convenient to construct) as asn1-x509 ones (what the TBS holds). */
export function asnExtensions(extensions: readonly x509.Extension[]): asnX509.Extension[] {
  return extensions.map((e) => AsnConvert.parse(e.rawData, asnX509.Extension));
}
