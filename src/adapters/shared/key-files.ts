import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";

/** Where the PKI lives inside the data dir. Private keys are PKCS#8 PEM, mode 0600. */
export interface PkiPaths {
  readonly dir: string;
  readonly rootCert: string;
  readonly rootKey: string;
  readonly issuingCert: string;
  readonly issuingKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** Issuing CA + root: what a device or relying party needs to trust fleetgate. */
  readonly caBundle: string;
}

export function pkiPaths(dataDir: string): PkiPaths {
  const dir = join(dataDir, "pki");
  return {
    dir,
    rootCert: join(dir, "root-ca.crt"),
    rootKey: join(dir, "root-ca.key"),
    issuingCert: join(dir, "issuing-ca.crt"),
    issuingKey: join(dir, "issuing-ca.key"),
    serverCert: join(dir, "server.crt"),
    serverKey: join(dir, "server.key"),
    caBundle: join(dir, "ca-bundle.crt"),
  };
}

export function pkiExists(paths: PkiPaths): boolean {
  return existsSync(paths.issuingCert) || existsSync(paths.issuingKey) || existsSync(paths.rootCert);
}

/** Writes a new file with the given mode; refuses to overwrite anything (O_EXCL). */
export function writeNewFile(path: string, content: string | Uint8Array, mode: number): void {
  const fd = openSync(path, "wx", mode);
  try {
    if (typeof content === "string") writeSync(fd, content);
    else writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}

export function ensurePrivateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
}

/** A key file readable by others is a leaked key: refuse to use it rather than warn. */
export function readPrivateKeyPem(path: string): string {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new Error(`${path} has mode ${mode.toString(8)}; private keys must be 0600 (chmod 600 ${path})`);
  }
  return readFileSync(path, "utf8");
}
