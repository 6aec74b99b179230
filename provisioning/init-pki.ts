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
} from "../src/adapters/ca/certificate-builder.js";
import { FileIssuerKey } from "../src/adapters/ca/file-issuer-key.js";
import { randomSerial } from "../src/adapters/ca/signer.js";
import { ensurePrivateDir, pkiExists, writeNewFile, type PkiPaths } from "../src/adapters/shared/key-files.js";
import { derToPem } from "../src/adapters/shared/pem.js";
import { SUBJECT_OID } from "../src/adapters/shared/subject.js";
import { x509 } from "../src/adapters/shared/x509.js";

/**
 * Creates fleetgate's CA hierarchy, every certificate signed through the IssuerKey port:
 *   root CA (P-384, 20 years)  — signs only the issuing CA; take its key offline after init.
 *   issuing CA (P-256, 10 years, pathLen 0) — signs device, service and server certificates.
 *   server certificate (P-256, 397 days) — the gateway's TLS listeners.
 */
const YEAR_MS = 365 * 86_400_000;
const BACKDATE_MS = 5 * 60_000;

export interface InitPkiOptions {
  readonly hostnames: readonly string[];
  readonly organization?: string;
  readonly now?: number;
}

export class PkiExistsError extends Error {
  override name = "PkiExistsError";
}

/** A certificate made here: its DER and the key pair's public half and signer. */
interface Made {
  readonly der: Buffer;
  readonly name: asnX509.Name;
  readonly spki: asnX509.SubjectPublicKeyInfo;
  readonly key: IssuerKey;
}

interface Subject {
  readonly name: asnX509.Name;
  readonly key: IssuerKey;
}

function validity(now: number, lifetimeMs: number): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + lifetimeMs) };
}

function caExtensions(pathLength: number, spki: asnX509.SubjectPublicKeyInfo, issuer?: Made): asnX509.Extension[] {
  const extensions = asnExtensions([
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ]);
  extensions.push(subjectKeyIdentifier(spki));
  if (issuer) extensions.push(authorityKeyIdentifier(issuer));
  return extensions;
}

function authorityKeyIdentifier(issuer: Made): asnX509.Extension {
  const keyId = Buffer.from(keyIdentifier(issuer.spki)).toString("hex");
  return asnExtensions([new x509.AuthorityKeyIdentifierExtension(keyId)])[0]!;
}

async function issue(
  subject: Subject,
  issuer: Made | null,
  period: { notBefore: Date; notAfter: Date },
  extensions: (spki: asnX509.SubjectPublicKeyInfo) => asnX509.Extension[],
): Promise<Made> {
  const spki = parseSpki(subject.key.spki);
  const fields = {
    serialHex: randomSerial(),
    issuer: issuer?.name ?? subject.name,
    subject: subject.name,
    ...period,
    subjectPublicKeyInfo: spki,
    extensions: extensions(spki),
  };
  const der = await signCertificate(fields, issuer?.key ?? subject.key); // no issuer: self-signed root
  return { der, name: subject.name, spki, key: subject.key };
}

function subjectAltNames(hostnames: readonly string[]): x509.JsonGeneralName[] {
  const names = [...new Set(["localhost", "127.0.0.1", "::1", ...hostnames])];
  return names.map((name) => (isIP(name) ? { type: "ip", value: name } : { type: "dns", value: name }));
}

function serverExtensions(hostnames: readonly string[], issuer: Made, spki: asnX509.SubjectPublicKeyInfo) {
  const extensions = asnExtensions([
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
    new x509.SubjectAlternativeNameExtension(subjectAltNames(hostnames), false),
  ]);
  return [...extensions, subjectKeyIdentifier(spki), authorityKeyIdentifier(issuer)];
}

const pem = (made: Made): string => derToPem(new Uint8Array(made.der), "CERTIFICATE");

/** Creates the hierarchy in `paths.dir`; refuses if any part of a PKI is already there. */
export async function initPki(paths: PkiPaths, options: InitPkiOptions): Promise<void> {
  if (pkiExists(paths)) throw new PkiExistsError(`a PKI already exists in ${paths.dir}; refusing to overwrite it`);
  const org = options.organization ?? "fleetgate";
  const now = options.now ?? Date.now();
  const keys = {
    root: FileIssuerKey.generate("P-384"),
    issuing: FileIssuerKey.generate("P-256"),
    server: FileIssuerKey.generate("P-256"),
  };
  const caName = (cn: string) =>
    nameOf([
      [SUBJECT_OID.commonName, cn],
      [SUBJECT_OID.organization, org],
    ]);
  const root = await issue(
    { name: caName(`${org} Root CA`), key: keys.root.key },
    null,
    validity(now, 20 * YEAR_MS),
    (spki) => caExtensions(1, spki),
  );
  const issuing = await issue(
    { name: caName(`${org} Issuing CA`), key: keys.issuing.key },
    root,
    validity(now, 10 * YEAR_MS),
    (spki) => caExtensions(0, spki, root),
  );
  const serverName = nameOf([[SUBJECT_OID.commonName, "fleetgate"]]);
  const server = await issue(
    { name: serverName, key: keys.server.key },
    issuing,
    validity(now, 397 * 86_400_000),
    (spki) => serverExtensions(options.hostnames, issuing, spki),
  );
  ensurePrivateDir(paths.dir);
  // Keys first: a crash part-way leaves key files without certificates, which pkiExists still sees.
  writeNewFile(paths.rootKey, keys.root.pem, 0o600);
  writeNewFile(paths.issuingKey, keys.issuing.pem, 0o600);
  writeNewFile(paths.serverKey, keys.server.pem, 0o600);
  writeNewFile(paths.rootCert, pem(root), 0o644);
  writeNewFile(paths.issuingCert, pem(issuing), 0o644);
  writeNewFile(paths.serverCert, pem(server) + pem(issuing), 0o644);
  writeNewFile(paths.caBundle, pem(issuing) + pem(root), 0o644);
}
