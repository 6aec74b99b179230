import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
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
  /** Every issuing CA still trusted + root: what a device or relying party needs to trust fleetgate. */
  readonly caBundle: string;
  /** Which issuing CAs exist, their state and where their keys are (src/adapters/ca/ca-manifest.ts). */
  readonly manifest: string;
  /** One `<ca-id>.crt` (and `<ca-id>.key` for a file key) per issuing CA. */
  readonly issuingDir: string;
  /** Keys and CSRs of issuing CAs made by `ca rotate --csr`, waiting for the root's signature. */
  readonly pendingDir: string;
  /** The secret TLS session-ticket keys are derived from (0600; the same on every cluster node). */
  readonly ticketSecret: string;
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
    manifest: join(dir, "issuing-cas.json"),
    issuingDir: join(dir, "issuing"),
    pendingDir: join(dir, "pending"),
    ticketSecret: join(dir, "tls-ticket.secret"),
  };
}

export function pkiExists(paths: PkiPaths): boolean {
  const parts = [paths.issuingCert, paths.issuingKey, paths.rootCert, paths.rootKey, paths.serverKey, paths.manifest];
  return parts.some((path) => existsSync(path));
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

/**
 * Replaces `path` atomically: the content goes to a new file in the same directory (with `mode` from the
 * start, so a key is never readable by others for a moment), is flushed, then renamed over `path`. A
 * reader sees the old file or the new one, never half of one; a crash leaves at most a stray temp file.
 */
export function replaceFile(path: string, content: string, mode: number): void {
  const temporary = `${path}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
  const fd = openSync(temporary, "wx", mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temporary, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(temporary, path);
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
