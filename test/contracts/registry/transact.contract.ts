import { describe, expect, it } from "vitest";
import { appendAudit, verifyAudit } from "../../../src/app/audit-log.js";
import type { RegistryTx } from "../../../src/ports.js";
import {
  certificate,
  deferred,
  device,
  NOW,
  operator,
  seed,
  token,
  useRegistry,
  type OpenRegistry,
} from "./fixtures.js";

const note = { actor: "test", action: "note", subject: "dev-1", details: {} };

export function transactContract(open: OpenRegistry): void {
  describe("transact", () => {
    const r = useRegistry(open);

    it("commits every write of a unit together and returns its result", async () => {
      const t = token();
      const result = await r.registry.transact(async (tx) => {
        await tx.insertToken(t);
        await tx.insertDevice(device("dev-1"));
        await tx.insertCertificate(certificate("dev-1", { serial: "0a" }));
        await tx.insertOperator(operator("alice", { serial: "0b" }));
        await appendAudit(tx, note, NOW);
        return "done";
      });
      expect(result).toBe("done");
      expect(await r.registry.findTokenByHash(t.hash)).toEqual(t);
      expect(await r.registry.getDevice("dev-1")).toEqual(device("dev-1"));
      expect((await r.registry.getCertificate("0a"))?.deviceId).toBe("dev-1");
      expect((await r.registry.getOperator("0b"))?.name).toBe("alice");
      expect((await r.registry.auditHead()).seq).toBe(1);
    });

    it("rolls back every write when the unit throws, and rethrows that very error", async () => {
      const t = token();
      const thrown = new Error("refused by the unit");
      const outcome = r.registry.transact(async (tx) => {
        await tx.insertToken(t);
        await tx.insertDevice(device("dev-1"));
        await tx.insertCertificate(certificate("dev-1", { serial: "0a" }));
        await appendAudit(tx, note, NOW);
        await tx.saveCrl({ issuer: "ca", number: 1, thisUpdate: NOW, der: new Uint8Array([1]) });
        throw thrown;
      });
      await expect(outcome).rejects.toBe(thrown);
      expect(await r.registry.findTokenByHash(t.hash)).toBeUndefined();
      expect(await r.registry.getDevice("dev-1")).toBeUndefined();
      expect(await r.registry.getCertificate("0a")).toBeUndefined();
      expect(await r.registry.auditHead()).toEqual({ seq: 0, hash: "0".repeat(64) });
      expect(await r.registry.currentCrl("ca")).toBeUndefined();
    });

    it("rolls back the writes before a failing write (a duplicate key)", async () => {
      await seed(r.registry, { devices: [device("dev-0")], certificates: [certificate("dev-0", { serial: "0a" })] });
      const outcome = r.registry.transact(async (tx) => {
        await tx.insertDevice(device("dev-1"));
        await tx.insertCertificate(certificate("dev-1", { serial: "0a" }));
      });
      await expect(outcome).rejects.toThrow(/unique/i);
      expect(await r.registry.getDevice("dev-1")).toBeUndefined();
      expect((await r.registry.getCertificate("0a"))?.deviceId).toBe("dev-0");
    });

    it("lets a unit read its own writes", async () => {
      const t = token();
      await r.registry.transact(async (tx) => {
        await tx.insertToken(t);
        await tx.updateToken(t.id, { usesLeft: 0 });
        expect(await tx.tokenById(t.id)).toEqual({ ...t, usesLeft: 0 });
        expect((await tx.tokenByHash(t.hash))?.usesLeft).toBe(0);
        await tx.insertDevice(device("dev-1"));
        await tx.updateDevice("dev-1", { role: "sensor" });
        await tx.touchDevices(["dev-1"], NOW + 5);
        expect(await tx.device("dev-1")).toEqual(device("dev-1", { role: "sensor", lastSeenAt: NOW + 5 }));
        await tx.insertCertificate(certificate("dev-1", { serial: "0a" }));
        await tx.updateCertificate("0a", { status: "revoked", revokedAt: NOW, revocationReason: "keyCompromise" });
        expect((await tx.certificate("0a"))?.status).toBe("revoked");
        expect((await tx.certificatesOf("dev-1")).map((c) => c.serial)).toEqual(["0a"]);
        expect((await tx.revokedCertificates({ issuer: "ca-1", notAfterFrom: NOW })).map((c) => c.serial)).toEqual([
          "0a",
        ]);
        await tx.insertOperator(operator("alice", { serial: "0b" }));
        expect((await tx.activeOperators()).map((o) => o.serial)).toEqual(["0b"]);
        const entry = await appendAudit(tx, note, NOW);
        expect(await tx.auditHead()).toEqual({ seq: 1, hash: entry.hash });
        await tx.saveCrl({ issuer: "ca", number: 7, thisUpdate: NOW, der: new Uint8Array([1]) });
        expect(await tx.crlState("ca")).toEqual({ number: 7, thisUpdate: NOW });
      });
    });

    it("shows reads outside a unit only committed data", async () => {
      const t = token();
      const written = deferred();
      const release = deferred();
      const unit = r.registry.transact(async (tx) => {
        await tx.insertToken(t);
        await tx.insertDevice(device("dev-1"));
        await tx.insertCertificate(certificate("dev-1", { serial: "0a" }));
        await appendAudit(tx, note, NOW);
        written.resolve();
        await release.promise;
      });
      await written.promise;
      expect(await r.registry.findTokenByHash(t.hash)).toBeUndefined();
      expect(await r.registry.getDevice("dev-1")).toBeUndefined();
      expect(await r.registry.certificateState("0a")).toBeUndefined();
      expect(await r.registry.countDevices()).toEqual({ total: 0, revoked: 0 });
      expect((await r.registry.auditHead()).seq).toBe(0);
      expect(await r.registry.listAudit({ afterSeq: 0, limit: 10 })).toEqual([]);
      release.resolve();
      await unit;
      expect((await r.registry.getDevice("dev-1"))?.id).toBe("dev-1");
      expect((await r.registry.auditHead()).seq).toBe(1);
    });

    it("commits concurrent units independently: one that throws takes only its own writes with it", async () => {
      const ids = ["dev-1", "dev-2", "dev-3", "dev-4", "dev-5"];
      const outcomes = await Promise.allSettled(
        ids.map((id) =>
          r.registry.transact(async (tx) => {
            await tx.insertDevice(device(id));
            await appendAudit(tx, { ...note, subject: id }, NOW);
            if (id === "dev-3") throw new Error("refused");
          }),
        ),
      );
      expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"]);
      expect(await r.registry.countDevices()).toEqual({ total: 4, revoked: 0 });
      expect(await r.registry.getDevice("dev-3")).toBeUndefined();
      expect(await verifyAudit(r.registry)).toMatchObject({ ok: true, entries: 4 });
    });

    it("refuses writes through a tx kept past the end of its unit", async () => {
      let kept: RegistryTx | undefined;
      await r.registry.transact(async (tx) => {
        kept = tx;
      });
      await expect(kept!.insertDevice(device("dev-late"))).rejects.toThrow();
      expect(await r.registry.getDevice("dev-late")).toBeUndefined();
    });

    it("changes nothing for undefined fields, and clears a field set to null", async () => {
      const revoked = device("dev-1", { status: "revoked", revokedAt: NOW, revocationReason: "keyCompromise" });
      await seed(r.registry, { devices: [revoked] });
      await r.registry.transact(async (tx) => {
        await tx.updateDevice("dev-1", {});
        await tx.updateDevice("dev-1", { role: undefined, profile: "service" });
      });
      expect(await r.registry.getDevice("dev-1")).toEqual({ ...revoked, profile: "service" });
      await r.registry.transact((tx) =>
        tx.updateDevice("dev-1", { status: "active", revokedAt: null, revocationReason: null }),
      );
      expect(await r.registry.getDevice("dev-1")).toEqual(device("dev-1", { profile: "service" }));
    });
  });
}
