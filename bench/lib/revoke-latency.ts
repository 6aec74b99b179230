/**
 * Revocation → socket closed: for each connected device, one operator revocation through the
 * admin API (operator mTLS, the same client the CLI uses), timed from just before the request is
 * sent to the device's TLS socket 'close' event. One at a time, so latencies do not queue up.
 */
import { performance } from "node:perf_hooks";
import { AdminClient } from "../../src/adapters/cli/admin-client.js";
import { loadConfig } from "../../src/config.js";
import type { Connected } from "./mqtt-load.js";

export interface RevokeResult {
  readonly latenciesMs: number[];
  /** Devices whose socket was still open `timeoutMs` after the revocation. */
  readonly notClosed: number;
}

/** The operator credential `fleetgate init` wrote into the data dir, pointed at the running server. */
export function adminClientFor(dataDir: string): AdminClient {
  return AdminClient.fromConfig(loadConfig({ dataDir }, {}));
}

function socketClosed(connected: Connected, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), timeoutMs);
    connected.client.stream.once("close", () => {
      clearTimeout(timer);
      resolve(performance.now());
    });
  });
}

export async function revokeLatencies(
  admin: AdminClient,
  devices: readonly Connected[],
  timeoutMs = 10_000,
): Promise<RevokeResult> {
  const latenciesMs: number[] = [];
  let notClosed = 0;
  for (const device of devices) {
    const closed = socketClosed(device, timeoutMs);
    const started = performance.now();
    await admin.call("POST", `/v1/devices/${encodeURIComponent(device.id)}/revoke`, { reason: "keyCompromise" });
    const closedAt = await closed;
    if (closedAt === null) notClosed++;
    else latenciesMs.push(closedAt - started);
  }
  return { latenciesMs, notClosed };
}
