import { readFileSync } from "node:fs";
import { AdminClient } from "../src/adapters/cli/admin-client.js";
import { caFiles } from "../src/adapters/ca/ca-manifest.js";
import { pkiPaths } from "../src/adapters/shared/key-files.js";
import { withCaKeys } from "../src/wiring/pki-init.js";
import { rotateIssuingCa } from "../provisioning/ca-rotation.js";
import { loadConfig, type Config } from "../src/config.js";
import type { TokenSource } from "./types.js";

/** What the simulator asks of the operator when it runs next to the server. */
export interface FleetAdmin {
  /** One group token (`--prefix`, `--uses`) for the whole fleet, created on first use. */
  readonly deviceToken: TokenSource;
  /** A single-device `service` token for the consumer, created on first use. */
  readonly consumerToken: TokenSource;
  readonly revokeDevice: (deviceId: string) => Promise<void>;
  /**
   * `fleetgate ca rotate` (one step: the root key must be in the data dir or the token), then the running
   * server's PKI reload over the admin API; the new CA's id and certificate.
   */
  readonly rotateCa: () => Promise<{ readonly id: string; readonly certificatePem: string }>;
}

export interface FleetAdminOptions {
  readonly prefix: string;
  readonly devices: number;
  readonly tokenTtl?: string;
  readonly revocationReason?: string;
}

/** The admin API with the operator credential in the data dir (as `fleetgate` CLI commands use it). */
export function fleetAdminFromDataDir(dataDir: string, options: FleetAdminOptions): FleetAdmin {
  return fleetAdmin(loadConfig({ dataDir }), options);
}

export function fleetAdmin(config: Config, options: FleetAdminOptions): FleetAdmin {
  const client = AdminClient.fromConfig(config);
  const ttl = options.tokenTtl ?? "1h";
  let groupToken: Promise<string> | undefined;
  const createToken = async (body: Record<string, unknown>) =>
    (await client.call<{ token: string }>("POST", "/v1/tokens", { ttl, ...body })).token;
  return {
    // Tokens are made lazily: a reboot run (every credential stored) asks the server for nothing.
    deviceToken: () =>
      (groupToken ??= createToken({ prefix: options.prefix, uses: options.devices, profile: "device" }).catch(
        (error: unknown) => {
          groupToken = undefined; // the next device asks again instead of inheriting this failure
          throw error;
        },
      )),
    consumerToken: (deviceId) =>
      createToken({ deviceId, profile: "service" }).catch((error: Error) => {
        if (!/unknown profile/.test(error.message)) throw error;
        throw new Error(
          `${error.message}. The consumer needs a service profile: add "service": {"role": "service", "lifetime": "90d"} to "profiles" in fleetgate.json`,
        );
      }),
    rotateCa: async () => {
      const paths = pkiPaths(config.dataDir);
      const activation = await withCaKeys(config, process.env, (keys) =>
        rotateIssuingCa({ paths, keys, hostnames: config.hostnames }, config.ca.key),
      );
      await client.call("POST", "/v1/pki/reload", {});
      return { id: activation.id, certificatePem: readFileSync(caFiles(paths, activation.id).cert, "utf8") };
    },
    revokeDevice: async (deviceId) => {
      await client.call("POST", `/v1/devices/${encodeURIComponent(deviceId)}/revoke`, {
        reason: options.revocationReason ?? "keyCompromise",
      });
    },
  };
}
