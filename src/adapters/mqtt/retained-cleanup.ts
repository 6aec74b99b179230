import type { AclConfig } from "../../domain/acl.js";
import { deviceNamespaces } from "../../domain/acl.js";
import type { AedesPersistence, StoredPacket } from "../shared/aedes-persistence.js";

/**
 * Clears a revoked device's retained messages: every one in its own namespace (the topics of the
 * publish templates that name it, `devices/{cn}/…` with its id), read from the store itself so it also
 * clears what the device retained through another node or before a restart of this one; and the
 * `owned` topics this node knows it retained elsewhere (a service's retained command to a device),
 * which a compromised credential must not leave behind either.
 */
export async function clearRetainedOf(
  persistence: AedesPersistence,
  acl: AclConfig,
  deviceId: string,
  owned: readonly string[],
): Promise<number> {
  const topics = new Set(owned);
  const patterns = deviceNamespaces(acl, deviceId);
  if (patterns.length > 0)
    for await (const packet of persistence.createRetainedStreamCombi(patterns))
      topics.add((packet as StoredPacket).topic);
  for (const topic of topics)
    await persistence.storeRetained({ topic, payload: Buffer.alloc(0), qos: 0, retain: true });
  return topics.size;
}
