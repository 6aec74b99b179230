import { afterEach, describe, expect, it } from "vitest";
import type { EventBus, FleetEvent, RevocationEvent } from "../../src/ports.js";

/** A fresh bus of one node, started; `close` stops it and frees what it holds. */
export type OpenBus = () => Promise<{ readonly bus: EventBus; readonly nodeId: string; close(): Promise<void> }>;

let seq = 1000;
function revocation(deviceId: string, auditSeq: number | null = ++seq): RevocationEvent {
  return { deviceId, reason: "keyCompromise", serials: ["0a"], at: Date.now(), auditSeq };
}

/** A handler that closes `open` sessions on its first call and records each origin it saw. */
function kicker(open: number) {
  const calls: string[] = [];
  let left = open;
  return {
    calls,
    handler: async (_event: RevocationEvent, origin: "local" | "remote") => {
      calls.push(origin);
      const closed = left;
      left = 0;
      return closed;
    },
  };
}

/**
 * The EventBus port's contract (src/ports/sessions.ts) as one node sees it, run by the in-process and the
 * Redis bus alike: a revocation runs this node's handlers in order and reports what they closed under
 * this node's id; one replayed from the registry runs once however often it is read; a handler that
 * throws does not stop the others; fleet events reach this node's listeners until they unsubscribe.
 * What crosses nodes (answers per node, catching up) is the Redis bus's own, tested in test/cluster.
 */
export function eventBusContract(name: string, open: OpenBus): void {
  describe(`${name} (EventBus contract)`, () => {
    const opened: { close(): Promise<void> }[] = [];
    afterEach(async () => {
      for (const node of opened.splice(0)) await node.close();
    });
    async function node() {
      const made = await open();
      opened.push(made);
      return made;
    }

    it("runs this node's handlers in order and reports the sessions they closed under its id", async () => {
      const { bus, nodeId } = await node();
      const order: string[] = [];
      const first = kicker(2);
      bus.onRevocation(async (event, origin) => (order.push("kick"), first.handler(event, origin)));
      bus.onRevocation(async () => void order.push("crl"));
      const outcome = await bus.publishRevocation(revocation("dev-a"));
      expect(order).toEqual(["kick", "crl"]);
      expect(first.calls).toEqual(["local"]);
      expect(outcome.sessionsClosed).toBe(2);
      expect(outcome.byNode).toEqual({ [nodeId]: 2 });
      expect(outcome.unanswered).toEqual([]);
    });

    it("replays a revocation read from the registry once, and reports it to a later path", async () => {
      const { bus } = await node();
      const k = kicker(1);
      bus.onRevocation(k.handler);
      const event = revocation("dev-b");
      await bus.replay(event);
      await bus.replay(event);
      expect(k.calls).toEqual(["remote"]);
      const outcome = await bus.publishRevocation(event); // the revoking node itself still re-signs
      expect(k.calls).toEqual(["remote", "local"]);
      expect(outcome.sessionsClosed).toBe(1);
    });

    it("always runs a revocation without an audit entry (a repeated revoke still kicks what slipped in)", async () => {
      const { bus } = await node();
      const k = kicker(0);
      bus.onRevocation(k.handler);
      await bus.publishRevocation(revocation("dev-c", null));
      await bus.publishRevocation(revocation("dev-c", null));
      expect(k.calls).toEqual(["local", "local"]);
    });

    it("keeps running the other handlers when one throws", async () => {
      const { bus, nodeId } = await node();
      bus.onRevocation(async () => {
        throw new Error("handler broke");
      });
      bus.onRevocation(kicker(3).handler);
      const outcome = await bus.publishRevocation(revocation("dev-d"));
      expect(outcome.byNode[nodeId]).toBe(3);
    });

    it("delivers fleet events to this node's listeners until they unsubscribe", async () => {
      const { bus } = await node();
      const heard: FleetEvent[] = [];
      const stop = bus.subscribe((event) => heard.push(event));
      bus.subscribe(() => {
        throw new Error("a broken listener");
      });
      const event: FleetEvent = { type: "device.revoked", deviceId: "dev-e", reason: "superseded", at: 1 };
      bus.publish(event);
      expect(heard).toEqual([event]);
      stop();
      bus.publish(event);
      expect(heard).toHaveLength(1);
    });
  });
}
