import { copyFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import type { CaKeys } from "../src/adapters/ca/ca-keys.js";
import {
  caFiles,
  inPki,
  pendingFiles,
  pkiFile,
  publishCaFiles,
  readCaManifest,
  writeCaManifest,
  type CaManifest,
  type PendingCa,
} from "../src/adapters/ca/ca-manifest.js";
import { issuingCaOf, type IssuingCa } from "../src/adapters/ca/issuing-ca.js";
import { ensurePrivateDir, writeNewFile, type PkiPaths } from "../src/adapters/shared/key-files.js";
import { pemToDer } from "../src/adapters/shared/pem.js";
import { x509 } from "../src/adapters/shared/x509.js";
import { activeCa, nextCaId, withActivated } from "../src/domain/issuing-cas.js";
import { issuingCaCsr, signIssuingCsr } from "./issuing-csr.js";
import { caName, certificatePem } from "./pki-certificates.js";
import { writeServerCertificate, type ServerCertificateFacts } from "./server-certificate.js";

/**
 * Issuing-CA rollover on disk. The root key is normally offline, so a new issuing CA takes two steps on
 * two machines: `ca rotate --csr` makes its key (a 0600 file, or in the token) and a CSR here;
 * `ca sign-issuing` signs that CSR with the root key there; `ca activate` installs the certificate here.
 * With the root key at hand (pki/root-ca.key, or a root key in the token), `ca rotate` does all three.
 * The running server learns about it through a reload (the CLI asks it over the admin API; SIGHUP works too).
 */
export interface RotationContext {
  readonly paths: PkiPaths;
  readonly keys: CaKeys;
  /** Extra server-certificate names (the current certificate's are kept). */
  readonly hostnames: readonly string[];
  readonly now?: number;
}

export class RotationError extends Error {
  override name = "RotationError";
}

export interface PreparedCa {
  readonly id: string;
  readonly csrFile: string;
  readonly csrPem: string;
  readonly key: PendingCa["key"];
}

function organizationOf(paths: PkiPaths): string {
  const root = new x509.X509Certificate(readFileSync(paths.rootCert, "utf8"));
  return root.subjectName.getField("O")[0] ?? "fleetgate";
}

/**
 * `ca rotate --csr`: the next CA's key and CSR, recorded as pending in pki/issuing-cas.json. A file key is
 * written where the CA will keep it (pki/issuing/<id>.key), so activation moves no key.
 */
export async function prepareIssuingCa(ctx: RotationContext, keyType: "file" | "pkcs11"): Promise<PreparedCa> {
  const { paths, keys } = ctx;
  const manifest = readCaManifest(paths);
  const id = nextCaId([...manifest.cas, ...manifest.pending].map((ca) => ca.id));
  const files = { key: caFiles(paths, id).key, csr: pendingFiles(paths, id).csr };
  const location = keys.placeFor(keyType, inPki(paths, files.key), id);
  const made = await keys.generate(location, "P-256", `the key of issuing CA ${id}`);
  ensurePrivateDir(paths.issuingDir);
  ensurePrivateDir(paths.pendingDir);
  if (made.pem !== undefined) writeNewFile(files.key, made.pem, 0o600);
  const org = organizationOf(paths);
  const csrPem = await issuingCaCsr(caName(org, `${org} Issuing CA ${id.slice(3)}`), made.key);
  writeNewFile(files.csr, csrPem, 0o644);
  const createdAt = new Date(ctx.now ?? Date.now()).toISOString();
  const pending = [...manifest.pending, { id, key: location, csr: inPki(paths, files.csr), createdAt }];
  writeCaManifest(paths, { ...manifest, pending });
  return { id, csrFile: files.csr, csrPem, key: location };
}

export interface Activation {
  readonly id: string;
  readonly previous: string;
  readonly notAfter: number;
  readonly serverCertificate: ServerCertificateFacts;
}

/**
 * `ca activate FILE`: checks the certificate (signed by our root, a CA, currently valid, for the key of a
 * pending CA) and makes it the active issuing CA; the one active so far starts retiring. The manifest is
 * the one commit point. Then the server certificate is renewed from the new CA, so the listeners' chain
 * moves with it.
 */
export async function activateIssuingCa(ctx: RotationContext, certificatePemText: string): Promise<Activation> {
  const { paths } = ctx;
  const now = ctx.now ?? Date.now();
  const certificate = await checkedCaCertificate(paths, certificatePemText, now);
  const manifest = readCaManifest(paths);
  const pending = pendingFor(paths, manifest, certificate);
  const files = caFiles(paths, pending.id);
  const ca = issuingCaOf(
    certificate,
    await ctx.keys.open(pending.key, `the key of issuing CA ${pending.id}`),
    files.cert,
  );
  ensurePrivateDir(paths.issuingDir);
  if (!existsSync(files.cert)) writeNewFile(files.cert, certificatePem(new Uint8Array(certificate.rawData)), 0o644);
  const previous = activeCa(manifest.cas).id;
  const entry = {
    id: pending.id,
    state: "active" as const,
    certificate: inPki(paths, files.cert),
    key: pending.key,
    activatedAt: new Date(now).toISOString(),
  };
  const activated: CaManifest = {
    ...withOwnCertificateFiles(paths, manifest),
    pending: manifest.pending.filter((p) => p.id !== pending.id),
  };
  writeCaManifest(paths, { ...activated, cas: withActivated(activated.cas, entry) });
  rmSync(pkiFile(paths, pending.csr), { force: true });
  publishCaFiles(paths, readCaManifest(paths));
  const serverCertificate = await writeServerCertificate(paths, ca, ctx.hostnames, "replace", now);
  return { id: pending.id, previous, notAfter: certificate.notAfter.getTime(), serverCertificate };
}

/** `ca rotate` with the root key at hand: prepare, sign, activate. */
export async function rotateIssuingCa(
  ctx: RotationContext,
  keyType: "file" | "pkcs11",
  lifetimeMs?: number,
): Promise<Activation> {
  const rootKey = await openRootKey(ctx);
  const prepared = await prepareIssuingCa(ctx, keyType);
  const rootCertPem = readFileSync(ctx.paths.rootCert, "utf8");
  const signed = await signIssuingCsr({ csrPem: prepared.csrPem, rootCertPem, rootKey, lifetimeMs, now: ctx.now });
  return activateIssuingCa(ctx, signed);
}

async function openRootKey(ctx: RotationContext): Promise<Awaited<ReturnType<CaKeys["open"]>>> {
  const { root } = readCaManifest(ctx.paths);
  if (root.key.type === "file" && !existsSync(pkiFile(ctx.paths, root.key.path)))
    throw new RotationError(
      `the root key is not here (${pkiFile(ctx.paths, root.key.path)}): run \`fleetgate ca rotate --csr\`, sign the ` +
        "CSR with `fleetgate ca sign-issuing` where the root key is kept, then `fleetgate ca activate`",
    );
  return ctx.keys.open(root.key, "the root CA key");
}

/** `server-cert renew`: a new key and certificate for the listeners, from the active issuing CA. */
export async function renewServerCertificate(ctx: RotationContext): Promise<ServerCertificateFacts> {
  const manifest = readCaManifest(ctx.paths);
  const active = activeCa(manifest.cas);
  const file = pkiFile(ctx.paths, active.certificate);
  const certificate = new x509.X509Certificate(readFileSync(file, "utf8"));
  const ca: IssuingCa = issuingCaOf(
    certificate,
    await ctx.keys.open(active.key, `the key of issuing CA ${active.id}`),
    file,
  );
  return writeServerCertificate(ctx.paths, ca, ctx.hostnames, "replace", ctx.now);
}

async function checkedCaCertificate(paths: PkiPaths, text: string, now: number): Promise<x509.X509Certificate> {
  const der = pemToDer(text, ["CERTIFICATE"]);
  if (der === null) throw new RotationError("the file holds no PEM CERTIFICATE");
  const certificate = new x509.X509Certificate(der);
  const root = new x509.X509Certificate(readFileSync(paths.rootCert, "utf8"));
  const signed = await certificate.verify({ publicKey: root.publicKey, signatureOnly: true });
  if (!signed || certificate.issuer !== root.subject)
    throw new RotationError(`the certificate was not issued by this data dir's root CA (${root.subject})`);
  const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
  const usages = certificate.getExtension(x509.KeyUsagesExtension)?.usages ?? 0;
  if (!constraints?.ca || (usages & x509.KeyUsageFlags.keyCertSign) === 0)
    throw new RotationError("the certificate is not a CA certificate (basicConstraints CA:TRUE, keyCertSign)");
  if (now < certificate.notBefore.getTime() || now > certificate.notAfter.getTime())
    throw new RotationError(
      `the certificate is not valid now (${certificate.notBefore.toISOString()} – ${certificate.notAfter.toISOString()})`,
    );
  return certificate;
}

/** The pending CA whose CSR carries the certificate's public key. */
function pendingFor(paths: PkiPaths, manifest: CaManifest, certificate: x509.X509Certificate): PendingCa {
  const spki = Buffer.from(certificate.publicKey.rawData);
  const found = manifest.pending.find((pending) => {
    const file = pkiFile(paths, pending.csr);
    if (!existsSync(file)) return false;
    const csr = new x509.Pkcs10CertificateRequest(readFileSync(file, "utf8"));
    return Buffer.from(csr.publicKey.rawData).equals(spki);
  });
  if (found !== undefined) return found;
  if (
    manifest.cas.some(
      (ca) => existsSync(pkiFile(paths, ca.certificate)) && sameKey(pkiFile(paths, ca.certificate), spki),
    )
  )
    throw new RotationError("this certificate's key is already an issuing CA here");
  throw new RotationError("no pending issuing CA has this certificate's key: run `fleetgate ca rotate --csr` first");
}

function sameKey(file: string, spki: Buffer): boolean {
  return Buffer.from(new x509.X509Certificate(readFileSync(file, "utf8")).publicKey.rawData).equals(spki);
}

/**
 * A data dir from before rollover keeps ca-1's certificate in pki/issuing-ca.crt, the file that from now
 * on follows the active CA: ca-1 gets its own copy first (its key stays where it is).
 */
function withOwnCertificateFiles(paths: PkiPaths, manifest: CaManifest): CaManifest {
  const cas = manifest.cas.map((ca) => {
    if (pkiFile(paths, ca.certificate) !== paths.issuingCert) return ca;
    const own = caFiles(paths, ca.id).cert;
    ensurePrivateDir(paths.issuingDir);
    if (!existsSync(own)) copyFileSync(paths.issuingCert, own);
    return { ...ca, certificate: inPki(paths, own) };
  });
  return { ...manifest, cas };
}
