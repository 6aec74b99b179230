import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { CaState } from "../../domain/issuing-cas.js";
import type { PkiPaths } from "../shared/key-files.js";
import { x509 } from "../shared/x509.js";
import type { CaKeys } from "./ca-keys.js";
import { pkiFile, trustedEntries, type CaEntry, type CaManifest } from "./ca-manifest.js";
import { issuingCaOf, type IssuingCa } from "./issuing-ca.js";
import { X509Signer, type RevocationUrls } from "./signer.js";

/** One issuing CA a server has loaded: certificate, key, and the signer for what it issues. */
export interface LoadedCa {
  readonly id: string;
  readonly state: Exclude<CaState, "retired">;
  readonly ca: IssuingCa;
  readonly signer: X509Signer;
  readonly keyType: "file" | "pkcs11";
  /** SHA-256 of the certificate DER: a reload keeps a CA (and its open key) whose certificate is unchanged. */
  readonly fingerprint: string;
}

/** The issuing CAs trusted now, as one immutable snapshot: a reload replaces the whole ring. */
export interface CaRing {
  readonly active: LoadedCa;
  /** Active first, then those retiring. */
  readonly trusted: readonly LoadedCa[];
  readonly rootPem: string;
  readonly manifest: CaManifest;
}

export function fingerprintOf(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex");
}

export function findCa(ring: CaRing, id: string): LoadedCa | undefined {
  return ring.trusted.find((ca) => ca.id === id);
}

export interface RingOptions {
  readonly paths: PkiPaths;
  readonly keys: CaKeys;
  /** The CRL and OCSP URLs that certificates of a CA name (the CRL is the CA's own). */
  readonly urlsFor: (id: string) => RevocationUrls;
  /** The ring this one replaces: its CAs are reused when their certificate did not change. */
  readonly previous?: CaRing;
}

/** Loads every CA of the manifest that is not retired; any CA that cannot be loaded fails the whole ring. */
export async function loadCaRing(manifest: CaManifest, options: RingOptions): Promise<CaRing> {
  const rootPem = readFileSync(options.paths.rootCert, "utf8");
  const trusted: LoadedCa[] = [];
  for (const entry of trustedEntries(manifest)) trusted.push(await loadCa(entry, rootPem, options));
  return { active: trusted[0]!, trusted, rootPem, manifest };
}

async function loadCa(entry: CaEntry, rootPem: string, options: RingOptions): Promise<LoadedCa> {
  const state = entry.state as LoadedCa["state"];
  const file = pkiFile(options.paths, entry.certificate);
  const pem = readFileSync(file, "utf8");
  const certificate = new x509.X509Certificate(pem);
  const fingerprint = fingerprintOf(new Uint8Array(certificate.rawData));
  const known = options.previous?.trusted.find((ca) => ca.id === entry.id && ca.fingerprint === fingerprint);
  if (known !== undefined && known.keyType === entry.key.type) return { ...known, state };
  const key = await options.keys.open(entry.key, `the key of issuing CA ${entry.id}`);
  // The PEM as the file has it: what /ca/… and every chain serve, byte for byte.
  const ca = { ...issuingCaOf(certificate, key, file), pem };
  const signer = X509Signer.create(ca, { id: entry.id, rootPem }, options.urlsFor(entry.id));
  return { id: entry.id, state, ca, signer, keyType: entry.key.type, fingerprint };
}
