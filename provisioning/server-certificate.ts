import { existsSync, readFileSync } from "node:fs";
import type { IssuingCa } from "../src/adapters/ca/issuing-ca.js";
import { FileIssuerKey } from "../src/adapters/ca/file-issuer-key.js";
import { replaceFile, writeNewFile, type PkiPaths } from "../src/adapters/shared/key-files.js";
import { x509 } from "../src/adapters/shared/x509.js";
import { normalizeSerial } from "../src/domain/identity.js";
import {
  certificatePem,
  issue,
  issuerOf,
  SERVER_LIFETIME_MS,
  SERVER_NAME,
  serverExtensions,
  validity,
} from "./pki-certificates.js";

export interface ServerCertificateFacts {
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly names: readonly string[];
}

const DEFAULT_NAMES = new Set(["localhost", "127.0.0.1", "::1"]);

/**
 * The listeners' certificate and key, signed by `ca` (the active issuing CA), as PEM: the certificate is
 * followed by the CA's, the chain every client of the listeners needs. Never outlives the CA.
 */
export async function makeServerCertificate(
  ca: IssuingCa,
  hostnames: readonly string[],
  now = Date.now(),
): Promise<{ keyPem: string; chainPem: string; facts: ServerCertificateFacts }> {
  const { key, pem: keyPem } = FileIssuerKey.generate("P-256");
  const issuer = issuerOf(ca.certificate, ca.key);
  const period = validity(now, SERVER_LIFETIME_MS, ca.certificate.notAfter.getTime());
  const der = await issue({ name: SERVER_NAME(), spki: key.spki }, issuer, period, (spki) =>
    serverExtensions(hostnames, issuer, spki),
  );
  const certificate = new x509.X509Certificate(der);
  return { keyPem, chainPem: certificatePem(der) + ca.pem, facts: factsOf(certificate) };
}

/**
 * Writes a new server certificate from `ca`. `replace`: the key first, then the certificate, each
 * atomically, so a reload between the two (a SIGHUP) finds a pair that does not match and keeps the
 * old one rather than serving half of a pair; the reload after both finds the new pair. The extra
 * hostnames of the current certificate are kept: `init --hostname` is not configuration.
 */
export async function writeServerCertificate(
  paths: PkiPaths,
  ca: IssuingCa,
  hostnames: readonly string[],
  mode: "new" | "replace",
  now = Date.now(),
): Promise<ServerCertificateFacts> {
  const names = mode === "replace" ? [...currentHostnames(paths), ...hostnames] : hostnames;
  const made = await makeServerCertificate(ca, [...new Set(names)], now);
  const write = mode === "new" ? writeNewFile : replaceFile;
  write(paths.serverKey, made.keyPem, 0o600);
  write(paths.serverCert, made.chainPem, 0o644);
  return made.facts;
}

/** The names in the current server certificate besides the built-in ones. */
export function currentHostnames(paths: Pick<PkiPaths, "serverCert">): string[] {
  if (!existsSync(paths.serverCert)) return [];
  return factsOf(new x509.X509Certificate(readFileSync(paths.serverCert, "utf8"))).names.filter(
    (name) => !DEFAULT_NAMES.has(name),
  );
}

export function factsOf(certificate: x509.X509Certificate): ServerCertificateFacts {
  const san = certificate.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.items.map((item) => item.value) ?? [];
  return {
    serial: normalizeSerial(certificate.serialNumber),
    notBefore: certificate.notBefore.getTime(),
    notAfter: certificate.notAfter.getTime(),
    names,
  };
}
