/**
 * A "certs-only" CMS message (RFC 5652 §5, degenerate SignedData; RFC 7030 §4.1.3, §4.2.3): no
 * content, no signers, just certificates. The certificates are already DER, so they are wrapped
 * byte for byte instead of being parsed into objects and serialized again — measured with
 * `npm run bench:enroll`, the object round trip through @peculiar/x509 cost about 3 ms of server
 * CPU per EST enrollment, more than signing the certificate.
 */
import { DER_TAG, tlv } from "./der.js";

// 1.2.840.113549.1.7.2 and 1.2.840.113549.1.7.1
const OID_SIGNED_DATA = Uint8Array.from([0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02]);
const OID_DATA = Uint8Array.from([0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01]);
const INTEGER_1 = Uint8Array.from([0x02, 0x01, 0x01]); // CMSVersion 1: no attribute certificates, no signers

/** DER of ContentInfo { signedData, SignedData { v1, {}, {data}, [0] certificates, {} } }. */
export function certsOnlyDer(certificatesDer: readonly Uint8Array[]): Buffer {
  const signedData = tlv(
    DER_TAG.sequence,
    INTEGER_1,
    tlv(DER_TAG.set), // digestAlgorithms: none
    tlv(DER_TAG.sequence, OID_DATA), // encapContentInfo without eContent
    tlv(DER_TAG.context0Constructed, ...certificatesDer), // certificates [0] IMPLICIT SET OF
    tlv(DER_TAG.set), // signerInfos: none
  );
  return tlv(DER_TAG.sequence, OID_SIGNED_DATA, tlv(DER_TAG.context0Constructed, signedData));
}

/** Base64 in RFC 2045 §6.8 lines of 64 characters, which every decoder (`openssl base64 -d` too) reads. */
export function certsOnlyBase64(certificatesDer: readonly Uint8Array[]): string {
  return certsOnlyDer(certificatesDer)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n?$/, "\n");
}
