import { X509Certificate } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** A device's identity as firmware keeps it in flash: key, certificate, and when it got them. */
export interface DeviceCredential {
  readonly deviceId: string;
  readonly keyPem: string;
  readonly certPem: string;
  readonly serial: string;
  readonly notAfter: number;
  /** The issuing CA that signed it (its subject, as node:crypto prints it). */
  readonly issuer: string;
  /**
   * When the certificate was received. The CA backdates notBefore (clock skew), so the
   * certificate's own validity period would put "two thirds of the lifetime" too early.
   */
  readonly obtainedAt: number;
}

interface Meta {
  readonly serial: string;
  readonly notAfter: number;
  readonly obtainedAt: number;
}

/** Serial, notAfter and issuer from the certificate itself. */
export function certificateFacts(certPem: string): { serial: string; notAfter: number; issuer: string } {
  const certificate = new X509Certificate(certPem);
  return {
    serial: certificate.serialNumber.toLowerCase(),
    notAfter: Date.parse(certificate.validTo),
    issuer: certificate.issuer,
  };
}

/** `<state>/<device id>/{key.pem (0600), cert.pem, meta.json}`, one folder per device. */
export class CredentialStore {
  constructor(readonly root: string) {}

  dirOf(deviceId: string): string {
    return join(this.root, deviceId);
  }

  /** The stored credential, or null on first boot (nothing stored yet). */
  async load(deviceId: string): Promise<DeviceCredential | null> {
    const dir = this.dirOf(deviceId);
    const [keyPem, certPem, metaText] = await Promise.all([
      readOptional(dir, "key.pem"),
      readOptional(dir, "cert.pem"),
      readOptional(dir, "meta.json"),
    ]);
    if (keyPem === null || certPem === null) return null;
    const facts = certificateFacts(certPem);
    const meta = metaText === null ? null : (JSON.parse(metaText) as Partial<Meta>);
    // Without meta.json, the certificate's notBefore is the best guess of when it was issued.
    const obtainedAt =
      meta?.serial === facts.serial && meta.obtainedAt
        ? meta.obtainedAt
        : Date.parse(new X509Certificate(certPem).validFrom);
    return { deviceId, keyPem, certPem, ...facts, obtainedAt };
  }

  /** Writes each file beside its final name and renames it, so a crash never leaves half a PEM. */
  async save(credential: DeviceCredential): Promise<void> {
    const dir = this.dirOf(credential.deviceId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const meta: Meta = { serial: credential.serial, notAfter: credential.notAfter, obtainedAt: credential.obtainedAt };
    await replaceFile(join(dir, "key.pem"), credential.keyPem, 0o600);
    await replaceFile(join(dir, "cert.pem"), credential.certPem, 0o644);
    await replaceFile(join(dir, "meta.json"), JSON.stringify(meta, null, 2) + "\n", 0o644);
  }
}

function readOptional(dir: string, name: string): Promise<string | null> {
  return readFile(join(dir, name), "utf8").catch(() => null);
}

async function replaceFile(path: string, content: string, mode: number): Promise<void> {
  const next = `${path}.next`;
  await writeFile(next, content, { mode });
  await rename(next, path);
}
