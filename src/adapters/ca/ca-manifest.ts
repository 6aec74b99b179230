import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { z } from "zod";
import { activeCa, CA_ID_PATTERN, FIRST_CA_ID, trustedCas, type CaState } from "../../domain/issuing-cas.js";
import { replaceFile, type PkiPaths } from "../shared/key-files.js";

/**
 * `pki/issuing-cas.json`: the issuing CAs of the data dir, which one is active, and where each private
 * key lives — a 0600 file in pki/, or a PKCS#11 token object (by label; the token itself is the
 * `pkcs11` configuration). `serve` loads every CA that is not retired from it, so this file, not the
 * configuration, says whether a key is in an HSM. A data dir made before rollover existed has no such
 * file: it has one CA, ca-1, in pki/issuing-ca.crt and pki/issuing-ca.key.
 */

/** A path inside pki/, relative to it: never absolute, never leaving it. */
const pkiRelative = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, "expected a path inside pki/")
  .refine((path) => !path.split("/").includes(".."), "expected a path inside pki/");

const KeyLocationSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("file"), path: pkiRelative }),
  z.strictObject({ type: z.literal("pkcs11"), label: z.string().min(1) }),
]);
export type CaKeyLocation = z.output<typeof KeyLocationSchema>;

const CaEntrySchema = z.strictObject({
  id: z.string().regex(CA_ID_PATTERN),
  state: z.enum(["active", "retiring", "retired"]),
  certificate: pkiRelative,
  key: KeyLocationSchema,
  activatedAt: z.iso.datetime().optional(),
  retiredAt: z.iso.datetime().optional(),
});
export type CaEntry = z.output<typeof CaEntrySchema>;

const PendingSchema = z.strictObject({
  id: z.string().regex(CA_ID_PATTERN),
  key: KeyLocationSchema,
  csr: pkiRelative,
  createdAt: z.iso.datetime(),
});
export type PendingCa = z.output<typeof PendingSchema>;

const ManifestSchema = z.strictObject({
  version: z.literal(1),
  cas: z.array(CaEntrySchema).min(1),
  pending: z.array(PendingSchema).default([]),
  /** Where the root key is; absent once an operator took the file offline (the usual case). */
  root: z.strictObject({ key: KeyLocationSchema }),
});
export type CaManifest = z.output<typeof ManifestSchema>;

export function pkiFile(paths: Pick<PkiPaths, "dir">, path: string): string {
  return join(paths.dir, path);
}

/** The path of a file in pki/ as the manifest writes it. */
export function inPki(paths: Pick<PkiPaths, "dir">, absolute: string): string {
  return relative(paths.dir, absolute).split("\\").join("/");
}

/** Files of one issuing CA under pki/issuing/ (active or not). */
export function caFiles(paths: PkiPaths, id: string): { cert: string; key: string } {
  return { cert: join(paths.issuingDir, `${id}.crt`), key: join(paths.issuingDir, `${id}.key`) };
}

export function pendingFiles(paths: PkiPaths, id: string): { key: string; csr: string } {
  return { key: join(paths.pendingDir, `${id}.key`), csr: join(paths.pendingDir, `${id}.csr`) };
}

/** The manifest as stored, or the one CA of a data dir made before rollover; an invalid file throws. */
export function readCaManifest(paths: PkiPaths): CaManifest {
  if (!existsSync(paths.manifest)) return legacyManifest(paths);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(paths.manifest, "utf8"));
  } catch (error) {
    throw new Error(`${paths.manifest} is not JSON: ${(error as Error).message}`, { cause: error });
  }
  const result = ManifestSchema.safeParse(parsed);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`${paths.manifest} is invalid: ${issues}`);
  }
  activeCa(result.data.cas); // exactly one active, or refuse to start
  return result.data;
}

function legacyManifest(paths: PkiPaths): CaManifest {
  return {
    version: 1,
    cas: [
      {
        id: FIRST_CA_ID,
        state: "active",
        certificate: inPki(paths, paths.issuingCert),
        key: { type: "file", path: inPki(paths, paths.issuingKey) },
      },
    ],
    pending: [],
    root: { key: { type: "file", path: inPki(paths, paths.rootKey) } },
  };
}

/** Writes the manifest atomically (its readers are `serve` at start and on every PKI reload). */
export function writeCaManifest(paths: PkiPaths, manifest: CaManifest): void {
  activeCa(manifest.cas);
  replaceFile(paths.manifest, JSON.stringify(manifest, null, 2) + "\n", 0o644);
}

export function caEntry(manifest: CaManifest, id: string): CaEntry | undefined {
  return manifest.cas.find((ca) => ca.id === id);
}

export function trustedEntries(manifest: CaManifest): CaEntry[] {
  return trustedCas(manifest.cas);
}

export function stateOf(manifest: CaManifest, id: string): CaState | undefined {
  return caEntry(manifest, id)?.state;
}

/**
 * The files relying parties read: pki/issuing-ca.crt is the active CA's certificate, pki/ca-bundle.crt
 * every trusted issuing CA and the root. Rewritten whenever the set changes; `serve` never reads them.
 */
export function publishCaFiles(paths: PkiPaths, manifest: CaManifest): void {
  const pems = trustedEntries(manifest).map((ca) => readFileSync(pkiFile(paths, ca.certificate), "utf8"));
  const rootPem = readFileSync(paths.rootCert, "utf8");
  replaceFile(paths.issuingCert, pems[0]!, 0o644);
  replaceFile(paths.caBundle, pems.join("") + rootPem, 0o644);
}
