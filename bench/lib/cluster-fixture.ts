/**
 * The cluster benchmark's credentials, made the way a fleet gets them: every device and service
 * enrolled through the real JSON API of a node on the data dir (group tokens from the CLI), before any
 * clock starts.
 */
import { performance } from "node:perf_hooks";
import { createSecureContext } from "node:tls";
import type { Cleanup } from "./cleanup.js";
import { startNode } from "./cluster-nodes.js";
import type { Options } from "./cluster-options.js";
import { note } from "./cluster-phases.js";
import { enrollDevices, type DeviceCredential } from "./device-credentials.js";
import { caBundlePem, createGroupToken, unlimitedEnrollConfig } from "./fleetgate.js";
import { round } from "./stats.js";

export const PREFIX = {
  load: "bc-load-",
  service: "bc-svc-",
  publisher: "bc-pub-",
  failover: "bc-fo-",
  revoked: (run: number) => `bc-rv${run}-`,
} as const;

export interface Fixture {
  readonly load: readonly DeviceCredential[];
  /** Two service identities: the subscriber on the publisher's node and the one on another node. */
  readonly services: readonly [DeviceCredential, DeviceCredential];
  readonly publisher: DeviceCredential;
  readonly failover: readonly DeviceCredential[];
  readonly revoked: readonly (readonly DeviceCredential[])[];
  readonly caPem: string;
}

/** Limits raised so they never bind (they are per node): connect rate, publish rate, connection cap. */
export function benchConfig(options: Options, registry?: string): Record<string, unknown> {
  const unlimited = { perSecond: 1_000_000, burst: 1_000_000 };
  const maxConnections = Math.max(6000, options.devices + options.failover + options.revocations + 100);
  return {
    ...unlimitedEnrollConfig(),
    ...(registry ? { registry } : {}),
    mqtt: { host: "127.0.0.1", port: 0, maxConnections, connectRatePerAddress: unlimited, publishRate: unlimited },
  };
}

async function enrollGroup(dataDir: string, port: number, prefix: string, count: number, profile = "device") {
  if (count === 0) return [];
  const token = await createGroupToken(dataDir, prefix, count, "1h", profile);
  const target = {
    host: "127.0.0.1",
    port,
    secureContext: createSecureContext({ ca: caBundlePem(dataDir) }),
    timeoutMs: 30_000,
  };
  return enrollDevices(target, prefix, count, token);
}

/** `init` and every credential through the real enrollment API of a node on that data dir (then stopped). */
export async function prepare(dataDir: string, options: Options, cleanup: Cleanup, full: boolean): Promise<Fixture> {
  const node = await startNode({ dataDir, cleanup, logName: "enroll" });
  const port = node.server.ports["enroll"]!;
  const started = performance.now();
  try {
    const load = await enrollGroup(dataDir, port, PREFIX.load, options.devices);
    const [a, b] = await enrollGroup(dataDir, port, PREFIX.service, 2, "service");
    const [publisher] = await enrollGroup(dataDir, port, PREFIX.publisher, 1);
    const failover = full ? await enrollGroup(dataDir, port, PREFIX.failover, options.failover) : [];
    const revoked: DeviceCredential[][] = [];
    for (let run = 1; full && run <= options.runs; run++)
      revoked.push(await enrollGroup(dataDir, port, PREFIX.revoked(run), options.revocations));
    note(`enrolled ${dataDir} in ${round((performance.now() - started) / 1000, 1)} s`);
    return { load, services: [a!, b!], publisher: publisher!, failover, revoked, caPem: caBundlePem(dataDir) };
  } finally {
    await node.server.stop();
  }
}
