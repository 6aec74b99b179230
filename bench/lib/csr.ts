import { x509 } from "../../src/adapters/shared/x509.js";
import { runPool } from "./pool.js";

export interface DeviceCsr {
  readonly deviceId: string;
  readonly keys: CryptoKeyPair;
  /** PKCS#10 DER, base64 without line breaks. */
  readonly derBase64: string;
  /** PKCS#10 PEM ("CERTIFICATE REQUEST"). */
  readonly pem: string;
}

const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;

/** One ECDSA P-256 key pair and a CSR with subject CN=deviceId, signed with SHA-256. */
export async function deviceCsr(deviceId: string): Promise<DeviceCsr> {
  const keys = await x509.cryptoProvider.get().subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [deviceId] }],
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  return { deviceId, keys, derBase64: Buffer.from(csr.rawData).toString("base64"), pem: csr.toString("pem") };
}

/** Device ids `${prefix}00001`…, zero-padded to at least five digits. */
export function deviceIds(prefix: string, count: number): string[] {
  const width = Math.max(5, String(count).length);
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(width, "0")}`);
}

/** Key pairs + CSRs for many devices, a few at a time so the thread pool stays busy. */
export function deviceCsrs(ids: readonly string[], concurrency = 16): Promise<DeviceCsr[]> {
  return runPool(ids.length, concurrency, (i) => deviceCsr(ids[i]!));
}
