import { isIP } from "node:net";
import type * as asnX509 from "@peculiar/asn1-x509";
import type { IssuerKey } from "../src/ports.js";
import {
  asnExtensions,
  keyIdentifier,
  nameOf,
  parseSpki,
  signCertificate,
  subjectKeyIdentifier,
  subjectOf,
} from "../src/adapters/ca/certificate-builder.js";
import { randomSerial } from "../src/adapters/ca/signer.js";
import { derToPem } from "../src/adapters/shared/pem.js";
import { SUBJECT_OID } from "../src/adapters/shared/subject.js";
import { x509 } from "../src/adapters/shared/x509.js";

/**
 * The certificates of fleetgate's own hierarchy (root, issuing CAs, the listeners' server certificate),
 * each signed through the IssuerKey port: `init`, issuing-CA rollover and server-certificate renewal
 * make them the same way.
 */
export const DAY_MS = 86_400_000;
export const YEAR_MS = 365 * DAY_MS;
const BACKDATE_MS = 5 * 60_000;
/** CA/Browser Forum's cap for TLS server certificates; fleetgate's is renewed with `server-cert renew`. */
export const SERVER_LIFETIME_MS = 397 * DAY_MS;

/** A certificate that signs others: its DER and subject, its public key, and the key that signs with it. */
export interface Issuer {
  readonly der: Uint8Array;
  readonly name: asnX509.Name;
  readonly spki: asnX509.SubjectPublicKeyInfo;
  readonly key: IssuerKey;
}

export interface Subject {
  readonly name: asnX509.Name;
  /** The subject's public key (SPKI DER), e.g. IssuerKey.spki or a CSR's. */
  readonly spki: Uint8Array;
}

export interface Period {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export function validity(now: number, lifetimeMs: number, notAfterAtMost?: number): Period {
  const notAfter = Math.min(now + lifetimeMs, notAfterAtMost ?? Infinity);
  return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(notAfter) };
}

/** `CN=<cn>, O=<organization>`: how fleetgate names its CAs. */
export function caName(organization: string, commonName: string): asnX509.Name {
  return nameOf([
    [SUBJECT_OID.commonName, commonName],
    [SUBJECT_OID.organization, organization],
  ]);
}

/** A certificate as an issuer (what `issue` needs of the CA that signs). */
export function issuerOf(certificate: x509.X509Certificate, key: IssuerKey): Issuer {
  return {
    der: new Uint8Array(certificate.rawData),
    name: subjectOf(certificate),
    spki: parseSpki(new Uint8Array(certificate.publicKey.rawData)),
    key,
  };
}

/** RFC 5280 §4.2.1.9 / §4.2.1.3: a CA that signs certificates and CRLs, `pathLength` CAs below it at most. */
export function caExtensions(
  pathLength: number,
  spki: asnX509.SubjectPublicKeyInfo,
  issuer?: Pick<Issuer, "spki">,
): asnX509.Extension[] {
  const extensions = asnExtensions([
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ]);
  extensions.push(subjectKeyIdentifier(spki));
  if (issuer) extensions.push(authorityKeyIdentifier(issuer));
  return extensions;
}

function authorityKeyIdentifier(issuer: Pick<Issuer, "spki">): asnX509.Extension {
  const keyId = Buffer.from(keyIdentifier(issuer.spki)).toString("hex");
  return asnExtensions([new x509.AuthorityKeyIdentifierExtension(keyId)])[0]!;
}

/** Signs a certificate for `subject`; without an issuer it is self-signed by `selfKey` (a root). */
export async function issue(
  subject: Subject,
  issuer: Issuer | { readonly selfKey: IssuerKey },
  period: Period,
  extensions: (spki: asnX509.SubjectPublicKeyInfo) => asnX509.Extension[],
): Promise<Uint8Array<ArrayBuffer>> {
  const spki = parseSpki(subject.spki);
  const fields = {
    serialHex: randomSerial(),
    issuer: "selfKey" in issuer ? subject.name : issuer.name,
    subject: subject.name,
    ...period,
    subjectPublicKeyInfo: spki,
    extensions: extensions(spki),
  };
  return new Uint8Array(await signCertificate(fields, "selfKey" in issuer ? issuer.selfKey : issuer.key));
}

function subjectAltNames(hostnames: readonly string[]): x509.JsonGeneralName[] {
  const names = [...new Set(["localhost", "127.0.0.1", "::1", ...hostnames])];
  return names.map((name) => (isIP(name) ? { type: "ip", value: name } : { type: "dns", value: name }));
}

/** The listeners' certificate: serverAuth, SANs localhost, 127.0.0.1, ::1 and every extra hostname. */
export function serverExtensions(
  hostnames: readonly string[],
  issuer: Pick<Issuer, "spki">,
  spki: asnX509.SubjectPublicKeyInfo,
): asnX509.Extension[] {
  const extensions = asnExtensions([
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
    new x509.SubjectAlternativeNameExtension(subjectAltNames(hostnames), false),
  ]);
  return [...extensions, subjectKeyIdentifier(spki), authorityKeyIdentifier(issuer)];
}

export const SERVER_NAME = (): asnX509.Name => nameOf([[SUBJECT_OID.commonName, "fleetgate"]]);

export function certificatePem(der: Uint8Array): string {
  return derToPem(new Uint8Array(der), "CERTIFICATE");
}
