import { describe, expect, it } from "vitest";
import { recordAudit, verifyAudit } from "../../../src/app/audit-log.js";
import { findChainBreak, GENESIS_HASH } from "../../../src/domain/audit-chain.js";
import { NOW, useRegistry, type OpenRegistry } from "./fixtures.js";

const entry = (subject: string | null, details: Record<string, unknown> = {}) => ({
  actor: "cli",
  action: "note",
  subject,
  details,
});

export function auditContract(open: OpenRegistry): void {
  describe("audit log", () => {
    const r = useRegistry(open);

    it("starts empty at the genesis head", async () => {
      expect(await r.registry.auditHead()).toEqual({ seq: 0, hash: GENESIS_HASH });
      expect(await r.registry.transact((tx) => tx.auditHead())).toEqual({ seq: 0, hash: GENESIS_HASH });
      expect(await verifyAudit(r.registry)).toMatchObject({ ok: true, entries: 0, headHash: GENESIS_HASH });
    });

    it("is a hash chain, paged by afterSeq and limit and checkable from any anchor", async () => {
      for (const [i, subject] of ["a-1", null, "t-1", "a-1"].entries())
        await recordAudit(r.registry, entry(subject), NOW + i);
      const entries = await r.registry.listAudit({ afterSeq: 0, limit: 100 });
      expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect(entries[0]!.prevHash).toBe(GENESIS_HASH);
      expect(entries[1]!.prevHash).toBe(entries[0]!.hash);
      expect(findChainBreak(entries)).toBeNull();
      const tail = await r.registry.listAudit({ afterSeq: 2, limit: 100 });
      expect(tail.map((e) => e.seq)).toEqual([3, 4]);
      expect(findChainBreak(tail, entries[1]!.hash, 3)).toBeNull();
      expect((await r.registry.listAudit({ afterSeq: 1, limit: 2 })).map((e) => e.seq)).toEqual([2, 3]);
      expect(await r.registry.listAudit({ afterSeq: 4, limit: 10 })).toEqual([]);
      expect(await r.registry.auditHead()).toEqual({ seq: 4, hash: entries[3]!.hash });
    });

    it("lists only the entries about a subject, still in order and paged", async () => {
      for (const [i, subject] of ["a-1", "b-1", "a-1", null, "a-1"].entries())
        await recordAudit(r.registry, entry(subject), NOW + i);
      const about = await r.registry.listAudit({ afterSeq: 0, limit: 10, subject: "a-1" });
      expect(about.map((e) => e.seq)).toEqual([1, 3, 5]);
      expect((await r.registry.listAudit({ afterSeq: 1, limit: 1, subject: "a-1" })).map((e) => e.seq)).toEqual([3]);
      expect(await r.registry.listAudit({ afterSeq: 0, limit: 10, subject: "nobody" })).toEqual([]);
    });

    it("lists only the entries of an action (the revocation feed), in order and paged", async () => {
      for (const [i, action] of ["device.revoked", "note", "device.revoked", "device.revoked"].entries())
        await recordAudit(r.registry, { ...entry(`d-${i}`), action }, NOW + i);
      const revoked = await r.registry.listAudit({ afterSeq: 0, limit: 10, action: "device.revoked" });
      expect(revoked.map((e) => [e.seq, e.subject])).toEqual([
        [1, "d-0"],
        [3, "d-2"],
        [4, "d-3"],
      ]);
      const after = await r.registry.listAudit({ afterSeq: 1, limit: 1, action: "device.revoked" });
      expect(after.map((e) => e.seq)).toEqual([3]);
    });

    it("keeps every entry exactly as appended, so its hash still verifies", async () => {
      const details = {
        z: 1,
        a: { y: [1, 2.5, -3], nested: { deep: true, none: null } },
        text: 'ünïcødé ✓ \u0000 "quoted" \\ back',
        big: 2 ** 53 - 1,
        empty: {},
      };
      const appended = await recordAudit(r.registry, { ...entry("dev-1", details), actor: "operator:alice" }, NOW);
      const [stored] = await r.registry.listAudit({ afterSeq: 0, limit: 1 });
      expect(stored).toEqual(appended);
      expect(await verifyAudit(r.registry)).toMatchObject({ ok: true, entries: 1, headHash: appended.hash });
    });
  });
}
