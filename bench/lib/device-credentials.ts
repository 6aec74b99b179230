/**
 * Device credentials for the broker benchmark, made the way a fleet gets them: an ECDSA P-256 key
 * and CSR per device, enrolled through fleetgate's JSON API with a group token. Each device gets
 * its own certificate (its own CN), since the CN is its MQTT identity on both brokers.
 */
import { webcrypto } from "node:crypto";
import { deviceCsrs, deviceIds } from "./csr.js";
import { enroll, type EnrollTarget } from "./enroll-client.js";
import { runPool } from "./pool.js";

export interface DeviceCredential {
  readonly id: string;
  readonly certPem: string;
  readonly keyPem: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const body = Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n?$/, "\n");
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/**
 * Enrolls `count` devices `${prefix}00001`… with `token`; throws on the first failure (the setup is not what
 * is measured).
 */
export async function enrollDevices(
  target: EnrollTarget,
  prefix: string,
  count: number,
  token: string,
  concurrency = 32,
): Promise<DeviceCredential[]> {
  const csrs = await deviceCsrs(deviceIds(prefix, count));
  return runPool(csrs.length, concurrency, async (i) => {
    const device = csrs[i]!;
    const outcome = await enroll(target, device, "json", token);
    if (!outcome.ok || outcome.body === undefined)
      throw new Error(`enrolling ${device.deviceId}: ${outcome.error ?? "no body"}`);
    const { certificate } = JSON.parse(outcome.body) as { certificate: string };
    const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", device.keys.privateKey);
    return { id: device.deviceId, certPem: certificate, keyPem: pem("PRIVATE KEY", pkcs8) };
  });
}
