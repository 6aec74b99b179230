import pino from "pino";
import { describe, expect, it } from "vitest";
import { RevocationHandlers } from "../../../src/adapters/shared/revocation-handlers.js";
import type { RevocationEvent } from "../../../src/ports.js";

/*
 * Promise protected: a revocation's per-node kick count reports the sessions it really closed on that
 * node, whichever path reached the node first — the bus message or the registry feed's replay (the race
 * behind a cluster e2e failure where node 2 closed the session through its feed, then answered 0).
 */

const event: RevocationEvent = { deviceId: "d1", reason: "keyCompromise", serials: ["01"], at: 1, auditSeq: 7 };

function handlersClosing(sessions: number) {
  const calls: string[] = [];
  const handlers = new RevocationHandlers(pino({ level: "silent" }));
  let open = sessions;
  handlers.add(async (_event, origin) => {
    calls.push(origin);
    const closed = open;
    open = 0;
    return closed;
  });
  return { handlers, calls };
}

describe("RevocationHandlers", () => {
  it("runs a remote revocation once and gives the second path the first one's count", async () => {
    const { handlers, calls } = handlersClosing(2);
    expect(await handlers.run(event, "remote")).toBe(2); // the feed's replay
    expect(await handlers.run(event, "remote")).toBe(2); // the bus message after it
    expect(calls).toEqual(["remote"]);
  });

  it("always runs a local revocation (its handlers re-sign the CRL) and adds what a replay closed first", async () => {
    const { handlers, calls } = handlersClosing(1);
    expect(await handlers.run(event, "remote")).toBe(1);
    expect(await handlers.run(event, "local")).toBe(1);
    expect(calls).toEqual(["remote", "local"]);
    expect(await handlers.run(event, "remote")).toBe(1);
  });

  it("shares a run still in progress with a path that arrives meanwhile", async () => {
    const { handlers, calls } = handlersClosing(3);
    const [first, second] = await Promise.all([handlers.run(event, "remote"), handlers.run(event, "remote")]);
    expect([first, second]).toEqual([3, 3]);
    expect(calls).toEqual(["remote"]);
  });

  it("always runs a revocation without an audit entry (a repeated revoke of a revoked device)", async () => {
    const { handlers, calls } = handlersClosing(1);
    const repeat = { ...event, auditSeq: null };
    expect(await handlers.run(repeat, "remote")).toBe(1);
    expect(await handlers.run(repeat, "remote")).toBe(0);
    expect(calls).toEqual(["remote", "remote"]);
  });
});
