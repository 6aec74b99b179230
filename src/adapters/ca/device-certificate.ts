import { createHash, sign, type KeyObject } from "node:crypto";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import * as asnX509 from "@peculiar/asn1-x509";
import { DER_TAG, tlv } from "./der.js";
import { x509 } from "./x509.js";

/** RFC 5758 §3.2: ECDSA signature algorithms, parameters absent. */
const ECDSA_WITH = {
  "SHA-256": "1.2.840.10045.4.3.2",
  "SHA-384": "1.2.840.10045.4.3.3",
  "SHA-512": "1.2.840.10045.4.3.4",
} as const;
export type SignatureHash = keyof typeof ECDSA_WITH;

export interface DeviceCertificateFields {
  /** Positive, minimal DER INTEGER content octets as hex (see randomSerial). */
  readonly serialHex: string;
  /** Subject attributes in order, each one RDN: [[OID, value], …] (e.g. CN then OU). */
  readonly subject: readonly (readonly [string, string])[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKeySpki: Uint8Array<ArrayBuffer>;
}

/**
 * Builds and signs device certificates from parts prepared once: the issuer name, the signature
 * algorithm and every extension that does not depend on the request are parsed when the CA key is
 * loaded, not per certificate. The TBSCertificate is built with @peculiar/asn1-x509 and signed with
 * node:crypto (DER ECDSA-Sig-Value directly); the result is never parsed back. Measured with
 * `npm run bench:enroll`: X509CertificateGenerator re-parsed all of these and the certificate it
 * made, about 1.5 ms of server CPU per enrollment.
 */
export class DeviceCertificateTemplate {
  private readonly signatureAlgorithm: asnX509.AlgorithmIdentifier;
  private readonly signatureAlgorithmDer: Uint8Array;
  private readonly issuerName: asnX509.Name;
  private readonly fixedExtensions: asnX509.Extension[];

  constructor(
    issuer: x509.X509Certificate,
    fixedExtensions: readonly x509.Extension[],
    private readonly key: KeyObject,
    private readonly hash: SignatureHash,
  ) {
    this.signatureAlgorithm = new asnX509.AlgorithmIdentifier({ algorithm: ECDSA_WITH[hash] });
    this.signatureAlgorithmDer = new Uint8Array(AsnConvert.serialize(this.signatureAlgorithm));
    this.issuerName = AsnConvert.parse(issuer.subjectName.toArrayBuffer(), asnX509.Name);
    this.fixedExtensions = fixedExtensions.map((e) => AsnConvert.parse(e.rawData, asnX509.Extension));
  }

  /** DER of the signed certificate (RFC 5280 §4.1: tbsCertificate, signatureAlgorithm, signatureValue). */
  build(fields: DeviceCertificateFields): Buffer {
    const subjectPublicKeyInfo = AsnConvert.parse(fields.publicKeySpki, asnX509.SubjectPublicKeyInfo);
    const tbs = new asnX509.TBSCertificate({
      version: asnX509.Version.v3,
      serialNumber: new Uint8Array(Buffer.from(fields.serialHex, "hex")).buffer,
      signature: this.signatureAlgorithm,
      issuer: this.issuerName,
      validity: new asnX509.Validity({ notBefore: fields.notBefore, notAfter: fields.notAfter }),
      subject: subjectName(fields.subject),
      subjectPublicKeyInfo,
      extensions: new asnX509.Extensions([...this.fixedExtensions, subjectKeyIdentifier(subjectPublicKeyInfo)]),
    });
    const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
    const signature = sign(this.hash.replace("-", "").toLowerCase(), tbsDer, { key: this.key, dsaEncoding: "der" });
    return tlv(
      DER_TAG.sequence,
      tbsDer,
      this.signatureAlgorithmDer,
      tlv(DER_TAG.bitString, Uint8Array.of(0), signature),
    );
  }
}

/**
 * RFC 5280 §4.1.2.6 / §4.1.2.4: PrintableString where the value allows it, UTF8String otherwise
 * (a device id may hold `_`), the same choice @peculiar/x509's Name makes, without its round trip.
 */
function subjectName(attributes: DeviceCertificateFields["subject"]): asnX509.Name {
  return new asnX509.Name(
    attributes.map(([type, text]) => {
      const value = new asnX509.AttributeValue(
        x509.Name.isPrintableString(text) ? { printableString: text } : { utf8String: text },
      );
      return new asnX509.RelativeDistinguishedName([new asnX509.AttributeTypeAndValue({ type, value })]);
    }),
  );
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's value. */
function subjectKeyIdentifier(spki: asnX509.SubjectPublicKeyInfo): asnX509.Extension {
  const keyId = createHash("sha1").update(new Uint8Array(spki.subjectPublicKey)).digest();
  const value = AsnConvert.serialize(new asnX509.SubjectKeyIdentifier(new Uint8Array(keyId).buffer));
  return new asnX509.Extension({
    extnID: asnX509.id_ce_subjectKeyIdentifier,
    critical: false,
    extnValue: new OctetString(value),
  });
}
