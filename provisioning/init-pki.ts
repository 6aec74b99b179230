import type { CaKeys } from "../src/adapters/ca/ca-keys.js";
import { caFiles, inPki, publishCaFiles, writeCaManifest, type CaManifest } from "../src/adapters/ca/ca-manifest.js";
import { issuingCaOf } from "../src/adapters/ca/issuing-ca.js";
import { ensurePrivateDir, pkiExists, writeNewFile, type PkiPaths } from "../src/adapters/shared/key-files.js";
import { x509 } from "../src/adapters/shared/x509.js";
import { FIRST_CA_ID } from "../src/domain/issuing-cas.js";
import { caExtensions, caName, certificatePem, issue, issuerOf, validity, YEAR_MS } from "./pki-certificates.js";
import { makeServerCertificate } from "./server-certificate.js";

/**
 * Creates fleetgate's CA hierarchy, every certificate signed through the IssuerKey port:
 *   root CA (P-384, 20 years)  — signs only issuing CAs; take its key offline after init.
 *   issuing CA ca-1 (P-256, 10 years, pathLen 0) — signs device, operator and server certificates.
 *   server certificate (P-256, 397 days) — the gateway's TLS listeners.
 * Each CA key is a 0600 file or, with `--ca-key pkcs11` / `--root-key pkcs11`, made inside the token
 * (non-extractable, sensitive): then no private key of that CA is ever written to disk.
 */
export interface InitPkiOptions {
  readonly hostnames: readonly string[];
  readonly organization?: string;
  readonly now?: number;
  /** Where the new CA keys are made (default: both files). */
  readonly keyTypes?: { readonly root: "file" | "pkcs11"; readonly issuing: "file" | "pkcs11" };
}

export class PkiExistsError extends Error {
  override name = "PkiExistsError";
}

/** Creates the hierarchy in `paths.dir`; refuses if any part of a PKI is already there. */
export async function initPki(paths: PkiPaths, options: InitPkiOptions, keys: CaKeys): Promise<CaManifest> {
  if (pkiExists(paths)) throw new PkiExistsError(`a PKI already exists in ${paths.dir}; refusing to overwrite it`);
  const org = options.organization ?? "fleetgate";
  const now = options.now ?? Date.now();
  const types = options.keyTypes ?? { root: "file", issuing: "file" };
  const ca1 = caFiles(paths, FIRST_CA_ID);
  const rootPlace = keys.placeFor(types.root, inPki(paths, paths.rootKey), "root");
  const root = await keys.generate(rootPlace, "P-384", "the root CA key");
  const issuingPlace = keys.placeFor(types.issuing, inPki(paths, ca1.key), null);
  const issuing = await keys.generate(issuingPlace, "P-256", "the issuing CA key");
  const rootName = caName(org, `${org} Root CA`);
  const rootDer = await issue(
    { name: rootName, spki: root.key.spki },
    { selfKey: root.key },
    validity(now, 20 * YEAR_MS),
    (spki) => caExtensions(1, spki),
  );
  const rootIssuer = issuerOf(new x509.X509Certificate(rootDer), root.key);
  const issuingDer = await issue(
    { name: caName(org, `${org} Issuing CA`), spki: issuing.key.spki },
    rootIssuer,
    validity(now, 10 * YEAR_MS),
    (spki) => caExtensions(0, spki, rootIssuer),
  );
  const ca = issuingCaOf(new x509.X509Certificate(issuingDer), issuing.key, ca1.cert);
  const server = await makeServerCertificate(ca, options.hostnames, now);
  ensurePrivateDir(paths.dir);
  ensurePrivateDir(paths.issuingDir);
  // Keys first: a crash part-way leaves key files without certificates, which pkiExists still sees.
  if (root.pem !== undefined) writeNewFile(paths.rootKey, root.pem, 0o600);
  if (issuing.pem !== undefined) writeNewFile(ca1.key, issuing.pem, 0o600);
  writeNewFile(paths.serverKey, server.keyPem, 0o600);
  writeNewFile(paths.rootCert, certificatePem(rootDer), 0o644);
  writeNewFile(ca1.cert, certificatePem(issuingDer), 0o644);
  writeNewFile(paths.serverCert, server.chainPem, 0o644);
  const manifest: CaManifest = {
    version: 1,
    cas: [
      {
        id: FIRST_CA_ID,
        state: "active",
        certificate: inPki(paths, ca1.cert),
        key: issuing.location,
        activatedAt: new Date(now).toISOString(),
      },
    ],
    pending: [],
    root: { key: root.location },
  };
  writeCaManifest(paths, manifest);
  publishCaFiles(paths, manifest);
  return manifest;
}
