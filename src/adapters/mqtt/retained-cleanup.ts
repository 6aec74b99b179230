import type { AclConfig } from "../../domain/acl.js";
import { deviceNamespaces } from "../../domain/acl.js";
import type { AedesPersistence, StoredPacket } from "../shared/aedes-persistence.js";

/**
 * Clears every retained message in a device's own namespace: the topics of the publish templates
 * that name it (`devices/{cn}/…` with its id). Read from the store itself, so it also clears what
 * the device retained through another node or before a restart of this one.
 */
export async function clearRetainedNamespace(
  persistence: AedesPersistence,
  acl: AclConfig,
  deviceId: string,
): Promise<number> {
  const patterns = deviceNamespaces(acl, deviceId);
  if (patterns.length === 0) return 0;
  const topics = new Set<string>();
  for await (const packet of persistence.createRetainedStreamCombi(patterns))
    topics.add((packet as StoredPacket).topic);
  for (const topic of topics)
    await persistence.storeRetained({ topic, payload: Buffer.alloc(0), qos: 0, retain: true });
  return topics.size;
}
