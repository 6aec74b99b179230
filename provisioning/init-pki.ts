import { isIP } from "node:net";
import { ensurePrivateDir, pkiExists, writeNewFile, type PkiPaths } from "../src/adapters/ca/key-store.js";
import { randomSerial } from "../src/adapters/ca/signer.js";
import { derToPem } from "../src/adapters/ca/pem.js";
import { subtle, x509 } from "../src/adapters/ca/x509.js";

/**
 * Creates fleetgate's CA hierarchy:
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

interface Issued {
  readonly certificate: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
}

async function generateKeys(namedCurve: "P-256" | "P-384"): Promise<CryptoKeyPair> {
  return subtle.generateKey({ name: "ECDSA", namedCurve }, true, ["sign", "verify"]);
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  return derToPem(new Uint8Array(await subtle.exportKey("pkcs8", key)), "PRIVATE KEY");
}

async function caExtensions(keys: CryptoKeyPair, pathLength: number, issuer?: Issued): Promise<x509.Extension[]> {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (issuer) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.certificate));
  return extensions;
}

async function createRoot(org: string, now: number): Promise<Issued> {
  const keys = await generateKeys("P-384");
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [`${org} Root CA`] }, { O: [org] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + 20 * YEAR_MS),
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-384" },
    extensions: await caExtensions(keys, 1),
  });
  return { certificate, keys };
}

async function createIssuing(root: Issued, org: string, now: number): Promise<Issued> {
  const keys = await generateKeys("P-256");
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [`${org} Issuing CA`] }, { O: [org] }],
    issuer: root.certificate.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + 10 * YEAR_MS),
    publicKey: keys.publicKey,
    signingKey: root.keys.privateKey,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-384" },
    extensions: await caExtensions(keys, 0, root),
  });
  return { certificate, keys };
}

function subjectAltNames(hostnames: readonly string[]): x509.JsonGeneralName[] {
  const names = [...new Set(["localhost", "127.0.0.1", "::1", ...hostnames])];
  return names.map((name) => (isIP(name) ? { type: "ip", value: name } : { type: "dns", value: name }));
}

export async function createServerCertificate(
  issuing: Issued,
  hostnames: readonly string[],
  now: number,
): Promise<Issued> {
  const keys = await generateKeys("P-256");
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: ["fleetgate"] }],
    issuer: issuing.certificate.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + 397 * 86_400_000),
    publicKey: keys.publicKey,
    signingKey: issuing.keys.privateKey,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(subjectAltNames(hostnames), false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuing.certificate),
    ],
  });
  return { certificate, keys };
}

/** Creates the hierarchy in `paths.dir`; refuses if any part of a PKI is already there. */
export async function initPki(paths: PkiPaths, options: InitPkiOptions): Promise<void> {
  if (pkiExists(paths)) throw new PkiExistsError(`a PKI already exists in ${paths.dir}; refusing to overwrite it`);
  const org = options.organization ?? "fleetgate";
  const now = options.now ?? Date.now();
  const root = await createRoot(org, now);
  const issuing = await createIssuing(root, org, now);
  const server = await createServerCertificate(issuing, options.hostnames, now);
  ensurePrivateDir(paths.dir);
  // Keys first: a crash part-way leaves key files without certificates, which pkiExists still sees.
  writeNewFile(paths.rootKey, await exportKeyPem(root.keys.privateKey), 0o600);
  writeNewFile(paths.issuingKey, await exportKeyPem(issuing.keys.privateKey), 0o600);
  writeNewFile(paths.serverKey, await exportKeyPem(server.keys.privateKey), 0o600);
  writeNewFile(paths.rootCert, root.certificate.toString("pem") + "\n", 0o644);
  writeNewFile(paths.issuingCert, issuing.certificate.toString("pem") + "\n", 0o644);
  const serverChain = [server.certificate, issuing.certificate].map((c) => c.toString("pem")).join("\n");
  writeNewFile(paths.serverCert, serverChain + "\n", 0o644);
  writeNewFile(
    paths.caBundle,
    [issuing.certificate, root.certificate].map((c) => c.toString("pem")).join("\n") + "\n",
    0o644,
  );
}
