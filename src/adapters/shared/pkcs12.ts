import { createHash, webcrypto } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { pemToDer } from "./pem.js";

/** OIDs of RFC 7292 (PKCS #12 v1.1) bag types and PKCS #9 attributes. */
const OID = {
  shroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  certBag: "1.2.840.113549.1.12.10.1.3",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
} as const;

/**
 * RFC 7292 with the modern profile OpenSSL 3 writes by default and NSS (Chromium, Firefox) and macOS
 * read: PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) for the key bag and the certificate safe, an
 * HMAC-SHA256 MAC over the whole. PBKDF2 (native) gets a count that makes guessing the password
 * slow; the MAC key derivation (RFC 7292 appendix B, computed in JavaScript by pkijs) keeps
 * OpenSSL's default of 2048.
 */
const MAC_ITERATIONS = 2048;
const PBES2 = {
  // pkijs draws a fresh random IV for every encryption; its type asks for one up front.
  contentEncryptionAlgorithm: { name: "AES-CBC", length: 256 } as pkijs.ContentEncryptionAlgorithm,
  hmacHashAlgorithm: "SHA-256",
  iterationCount: 100_000,
};

/** The shortest password a .p12 may be sealed with (the CLI and the console's add-operator form). */
export const MIN_P12_PASSWORD_LENGTH = 8;

export interface Pkcs12Input {
  /** PKCS#8 private key PEM. */
  readonly keyPem: string;
  /** The certificate of that key, PEM. */
  readonly certificatePem: string;
  /** CA certificates to ship with it (the issuing CA), PEM each. */
  readonly chainPem?: readonly string[];
  /** What a browser's certificate manager shows, e.g. "fleetgate operator alice". */
  readonly friendlyName: string;
  readonly password: string;
}

function certificate(pem: string): pkijs.Certificate {
  const der = pemToDer(pem, ["CERTIFICATE"]);
  if (der === null) throw new Error("not a PEM certificate");
  return pkijs.Certificate.fromBER(der);
}

function attributes(friendlyName: string | null, localKeyId: Uint8Array): pkijs.Attribute[] {
  const keyId = new pkijs.Attribute({
    type: OID.localKeyId,
    values: [new asn1js.OctetString({ valueHex: localKeyId.slice().buffer })],
  });
  if (friendlyName === null) return [keyId];
  const name = new pkijs.Attribute({ type: OID.friendlyName, values: [new asn1js.BmpString({ value: friendlyName })] });
  return [name, keyId];
}

/**
 * A password-protected PKCS#12 (.p12) holding an operator's key and certificate, for importing into
 * a browser. Built in memory; the caller decides where the bytes go (a 0600 file, an HTTPS answer).
 */
export async function buildPkcs12(input: Pkcs12Input): Promise<Uint8Array<ArrayBuffer>> {
  const keyDer = pemToDer(input.keyPem, ["PRIVATE KEY"]);
  if (keyDer === null) throw new Error("not a PKCS#8 private key PEM");
  const leaf = certificate(input.certificatePem);
  // localKeyId pairs the key with its certificate (RFC 7292 §4.2): the SHA-1 of the certificate, as OpenSSL does.
  const localKeyId = new Uint8Array(
    createHash("sha1")
      .update(pemToDer(input.certificatePem, ["CERTIFICATE"])!)
      .digest(),
  );
  const keyBag = new pkijs.SafeBag({
    bagId: OID.shroudedKeyBag,
    bagValue: new pkijs.PKCS8ShroudedKeyBag({ parsedValue: pkijs.PrivateKeyInfo.fromBER(keyDer) }),
    bagAttributes: attributes(input.friendlyName, localKeyId),
  });
  const certBags = [leaf, ...(input.chainPem ?? []).map(certificate)].map(
    (cert, i) =>
      new pkijs.SafeBag({
        bagId: OID.certBag,
        bagValue: new pkijs.CertBag({ parsedValue: cert }),
        ...(i === 0 ? { bagAttributes: attributes(input.friendlyName, localKeyId) } : {}),
      }),
  );
  const pfx = new pkijs.PFX({
    parsedValue: {
      integrityMode: 0, // password integrity: an HMAC over the authenticated safe
      authenticatedSafe: new pkijs.AuthenticatedSafe({
        parsedValue: {
          safeContents: [
            { privacyMode: 0, value: new pkijs.SafeContents({ safeBags: [keyBag] }) }, // key bag is shrouded itself
            { privacyMode: 1, value: new pkijs.SafeContents({ safeBags: certBags }) },
          ],
        },
      }),
    },
  });
  const crypto = new pkijs.CryptoEngine({ name: "node", crypto: webcrypto as unknown as Crypto });
  const password = new TextEncoder().encode(input.password).buffer;
  await keyBag.bagValue.makeInternalValues({ password, ...PBES2 }, crypto);
  await pfx.parsedValue!.authenticatedSafe!.makeInternalValues({ safeContents: [{}, { password, ...PBES2 }] }, crypto);
  await pfx.makeInternalValues(
    { password, iterations: MAC_ITERATIONS, pbkdf2HashAlgorithm: "SHA-256", hmacHashAlgorithm: "SHA-256" },
    crypto,
  );
  return new Uint8Array(pfx.toSchema().toBER());
}
