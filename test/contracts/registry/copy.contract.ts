import { describe, expect, it } from "vitest";
import { recordAudit, verifyAudit } from "../../../src/app/audit-log.js";
import { copyRegistry } from "../../../src/app/copy-registry.js";
import { GENESIS_HASH } from "../../../src/domain/audit-chain.js";
import { hashToken } from "../../../src/domain/bootstrap-token.js";
import type { Registry } from "../../../src/ports.js";
import { everything, seedEverything } from "./copy-fixtures.js";
import { device, NOW, refusal, seed, token, useRegistry, type OpenRegistry } from "./fixtures.js";

const EMPTY = { devices: 0, certificates: 0, tokens: 0, operators: 0, audit: 0, crls: 0 };

/** A second fresh registry of the same adapter, for the duration of `work`. */
async function withSecond<T>(open: OpenRegistry, work: (registry: Registry) => Promise<T>): Promise<T> {
  const second = await open();
  try {
    return await work(second.registry);
  } finally {
    await second.cleanup();
  }
}

export function copyContract(open: OpenRegistry): void {
  describe("bulk export and import (registry copy)", () => {
    const r = useRegistry(open);

    it("copies every fact unchanged, page by page, into an empty registry that then carries on", async () => {
      await seedEverything(r.registry);
      await withSecond(open, async (copy) => {
        const report = await copyRegistry(r.registry, copy, { pageSize: 2 });
        const source = await everything(r.registry);
        expect(await everything(copy)).toEqual(source);
        expect(report.copied).toEqual({ devices: 4, certificates: 4, tokens: 5, operators: 2, audit: 7, crls: 2 });
        expect(report.auditHead).toEqual(source.head);
        // Through the ordinary reads too: the token by its hash, the certificates, the CRL, the chain.
        expect(await copy.findTokenByHash(source.tokens[1]!.hash)).toEqual(source.tokens[1]);
        expect(await copy.listCertificates("dev-a")).toEqual(await r.registry.listCertificates("dev-a"));
        expect(await copy.currentCrl("ca-1")).toEqual(await r.registry.currentCrl("ca-1"));
        expect(await verifyAudit(copy)).toMatchObject({ ok: true, entries: 7 });
        // The next audit entry follows the copied head; the next CRL number follows the copied one.
        const next = await recordAudit(copy, { actor: "cli", action: "after", subject: null, details: {} }, NOW + 99);
        expect([next.seq, next.prevHash]).toEqual([8, source.audit[6]!.hash]);
        expect(await copy.transact((tx) => tx.crlState("ca-2"))).toEqual({ number: 7, thisUpdate: NOW - 1 });
      });
    });

    it("copies an empty registry into an empty one", async () => {
      await withSecond(open, async (copy) => {
        const report = await copyRegistry(r.registry, copy);
        expect(report).toEqual({ copied: EMPTY, auditHead: { seq: 0, hash: GENESIS_HASH } });
      });
    });

    it("refuses a destination that holds any fact (registry_not_empty) and writes nothing into it", async () => {
      await seedEverything(r.registry);
      await withSecond(open, async (copy) => {
        await seed(copy, { tokens: [token({ deviceId: "dev-q" })] });
        expect(await refusal(copyRegistry(r.registry, copy))).toBe("registry_not_empty");
        expect((await everything(copy)).counts).toEqual({ ...EMPTY, tokens: 1 });
      });
      await withSecond(open, async (copy) => {
        await copy.transact((tx) => tx.saveCrl({ issuer: "ca-1", number: 1, thisUpdate: NOW, der: new Uint8Array(1) }));
        expect(await refusal(copyRegistry(r.registry, copy))).toBe("registry_not_empty");
        expect((await everything(copy)).counts).toEqual({ ...EMPTY, crls: 1 });
      });
    });

    it("an import that fails part way leaves nothing behind", async () => {
      const failed = r.registry.bulkImport(async (target) => {
        await target.insert("devices", [device("dev-1"), device("dev-2")]);
        await target.insert("tokens", [token()]);
        throw new Error("the source went away");
      });
      await expect(failed).rejects.toThrow("the source went away");
      expect((await everything(r.registry)).counts).toEqual(EMPTY);
    });

    it("refuses audit entries that do not follow the head, and rolls the whole import back", async () => {
      await seedEverything(r.registry);
      const entries = (await everything(r.registry)).audit;
      await withSecond(open, async (copy) => {
        const failed = copy.bulkImport(async (target) => {
          await target.insert("devices", [device("dev-1")]);
          await target.insert("audit", entries.slice(2));
        });
        await expect(failed).rejects.toThrow(/does not follow the audit head/);
        expect(await everything(copy)).toMatchObject({ counts: EMPTY, head: { seq: 0, hash: GENESIS_HASH } });
      });
    });

    it("reads one snapshot: what commits while it is open is not in it", async () => {
      await seedEverything(r.registry);
      const seen = await r.registry.snapshot(async (snapshot) => {
        const before = await snapshot.counts();
        await seed(r.registry, { devices: [device("dev-late")], tokens: [token({ hash: hashToken("late") })] });
        const page = await snapshot.page("devices", null, 100);
        return { before, after: await snapshot.counts(), ids: page.items.map((d) => d.id) };
      });
      expect(seen.after).toEqual(seen.before);
      expect(seen.ids).not.toContain("dev-late");
      expect(await r.registry.getDevice("dev-late")).toBeDefined();
    });

    it("keeps other writers out until the import has committed", async () => {
      const order: string[] = [];
      const { writer } = await r.registry.bulkImport(async (target) => {
        await target.insert("devices", [device("dev-1")]);
        const writer = seed(r.registry, { devices: [device("dev-2")] }).then(() => order.push("writer"));
        await new Promise((resolve) => setTimeout(resolve, 200));
        order.push("import");
        return { writer }; // not the promise itself: the unit would wait for the writer it keeps out
      });
      order.push("committed");
      await writer;
      expect(order).toEqual(["import", "committed", "writer"]);
      expect((await everything(r.registry)).counts).toMatchObject({ devices: 2 });
    });
  });
}
