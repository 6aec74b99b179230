import type { Subscription } from "aedes";
import { describe, expect, it } from "vitest";
import { GuardedPersistence, type PersistencePolicy } from "../../../src/adapters/mqtt/guarded-persistence.js";
import { createMemoryPersistence } from "../../../src/adapters/mqtt/memory-persistence.js";
import type { AedesPersistence, StoredPacket } from "../../../src/adapters/shared/aedes-persistence.js";

/*
 * GuardedPersistence over aedes-persistence's real in-memory store, driven the way Aedes 1.2 drives it
 * (node_modules/aedes/lib/handlers/subscribe.js: storeSubscriptions calls addSubscriptions once per
 * granted filter, each time with the SUBSCRIBE's whole list). Promise protected (hardening break 2): a
 * SUBSCRIBE is stored once, with only its granted filters. Pre-fix (2cd67a4 installHooks) every one of
 * the n calls stored the whole list again after an ACL check of each filter: n² work, 17-37 s of
 * blocked event loop for 2,000 filters.
 */

/** The inner store, counting and recording the lists it is asked to store. */
function countingStore(): { store: AedesPersistence; calls: string[][] } {
  const store = createMemoryPersistence();
  const calls: string[][] = [];
  const addSubscriptions = store.addSubscriptions.bind(store);
  store.addSubscriptions = (client, subs) => {
    calls.push(subs.map((s) => s.topic));
    return addSubscriptions(client, subs);
  };
  return { store, calls };
}

function policy(granted: Set<string>): PersistencePolicy {
  return {
    granted: (_client, subs) => subs.filter((s) => granted.has(s.topic)),
    ownsSession: () => true,
    isDropped: (packet: StoredPacket) => packet.topic.startsWith("\u0000"),
    limits: { outgoingQueue: 10, incomingQos2: 10, incomingQos2Bytes: 10_000 },
    onLimit: () => undefined,
    onStoredQos2: () => undefined,
  };
}

const client = { id: "dev-1" };
const subscriptions = (n: number): Subscription[] =>
  Array.from({ length: n }, (_, i): Subscription => ({ topic: `devices/dev-1/commands/f${i}`, qos: 1 }));

describe("GuardedPersistence.addSubscriptions", () => {
  it("stores a SUBSCRIBE of 2,000 filters in one call, with the granted filters only", async () => {
    const { store, calls } = countingStore();
    const subs = subscriptions(2_000);
    const granted = new Set(subs.filter((_, i) => i % 10 !== 3).map((s) => s.topic)); // 1,800 granted
    const guarded = new GuardedPersistence(store, policy(granted));
    // As Aedes does: one call per granted filter, in one synchronous loop.
    const promises = subs.filter((s) => granted.has(s.topic)).map(() => guarded.addSubscriptions(client, subs));
    await Promise.all(promises);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toEqual([...granted]);
    const stored = (await store.subscriptionsByClient(client)).map((s) => s.topic);
    expect(stored.sort()).toEqual([...granted].sort());
  });

  it("stores nothing when nothing of the list was granted, and each SUBSCRIBE list on its own", async () => {
    const { store, calls } = countingStore();
    const first = subscriptions(3);
    const second = [{ topic: "devices/dev-1/config", qos: 0 } as Subscription];
    const guarded = new GuardedPersistence(store, policy(new Set(["devices/dev-1/config"])));
    await Promise.all([guarded.addSubscriptions(client, first), guarded.addSubscriptions(client, second)]);
    expect(calls).toEqual([["devices/dev-1/config"]]);
  });

  it("does not lose a filter granted after the first store started (an authorizer answering later)", async () => {
    const { store, calls } = countingStore();
    const subs = subscriptions(5);
    const granted = new Set([subs[0]!.topic, subs[1]!.topic]);
    const guarded = new GuardedPersistence(store, policy(granted));
    const early = [guarded.addSubscriptions(client, subs), guarded.addSubscriptions(client, subs)];
    await new Promise((resolve) => setImmediate(resolve));
    granted.add(subs[3]!.topic);
    const late = guarded.addSubscriptions(client, subs);
    await Promise.all([...early, late]);
    expect(calls).toEqual([[subs[0]!.topic, subs[1]!.topic], [subs[3]!.topic]]);
    expect((await store.subscriptionsByClient(client)).map((s) => s.topic).sort()).toEqual(
      [subs[0]!.topic, subs[1]!.topic, subs[3]!.topic].sort(),
    );
  });
});

describe("GuardedPersistence inbound QoS 2 bound (mqtt.maxStoredQos2: 3 messages, 100 bytes here)", () => {
  const packet = (messageId: number, payload = "12345"): StoredPacket => ({
    cmd: "publish",
    topic: "t", // 1 byte: each packet holds 1 + payload bytes
    payload: Buffer.from(payload),
    qos: 2,
    messageId,
  });
  const bounded = (store: AedesPersistence) => {
    const limits: string[] = [];
    const deltas: { messages: number; bytes: number }[] = [];
    const guarded = new GuardedPersistence(store, {
      ...policy(new Set()),
      limits: { outgoingQueue: 10, incomingQos2: 3, incomingQos2Bytes: 100 },
      onLimit: (reason) => limits.push(reason),
      onStoredQos2: (delta) => deltas.push(delta),
    });
    return { guarded, limits, deltas };
  };

  it("holds when the stores of one turn run concurrently, as Aedes runs a read's packets", async () => {
    const { guarded, limits, deltas } = bounded(createMemoryPersistence());
    const outcomes = await Promise.allSettled(
      [1, 2, 3, 4, 5].map((id) => guarded.incomingStorePacket(client, packet(id))),
    );
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "fulfilled", "rejected", "rejected"]);
    expect(limits).toEqual(["qos2_store_full", "qos2_store_full"]);
    expect(deltas.reduce((sum, d) => sum + d.messages, 0)).toBe(3);
    // A retransmission of a held id replaces it; a PUBREL frees its room.
    await guarded.incomingStorePacket(client, packet(2, "123456789"));
    await guarded.incomingDelPacket(client, packet(1));
    await guarded.incomingStorePacket(client, packet(6));
    expect(deltas.reduce((sum, d) => sum + d.bytes, 0)).toBe(6 + 10 + 6);
  });

  it("gives the room back when the store underneath fails", async () => {
    const store = createMemoryPersistence();
    const storePacket = store.incomingStorePacket.bind(store);
    let failures = 2;
    store.incomingStorePacket = (c, p) =>
      failures-- > 0 ? Promise.reject(new Error("store down")) : storePacket(c, p);
    const { guarded, limits } = bounded(store);
    for (const id of [1, 2])
      await expect(guarded.incomingStorePacket(client, packet(id))).rejects.toThrow("store down");
    for (const id of [3, 4, 5]) await guarded.incomingStorePacket(client, packet(id));
    expect(limits).toEqual([]);
    await expect(guarded.incomingStorePacket(client, packet(6))).rejects.toThrow("at its limit");
  });

  it("remembers a dropped publish by id only, answers its PUBREL, and counts it against the messages", async () => {
    const { guarded, deltas } = bounded(createMemoryPersistence());
    const dropped = { ...packet(1), topic: "\u0000dropped" };
    await guarded.incomingStorePacket(client, dropped);
    expect(await guarded.incomingGetPacket(client, { ...packet(1), topic: "" })).toMatchObject({ messageId: 1 });
    expect(deltas).toEqual([]);
    await guarded.incomingStorePacket(client, packet(2));
    await guarded.incomingStorePacket(client, packet(3));
    await expect(guarded.incomingStorePacket(client, packet(4))).rejects.toThrow("at its limit");
    await guarded.incomingDelPacket(client, packet(1));
    await expect(guarded.incomingGetPacket(client, packet(1))).rejects.toThrow();
    await guarded.incomingStorePacket(client, packet(4));
  });
});
