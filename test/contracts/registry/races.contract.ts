import { describe, expect, it } from "vitest";
import { appendAudit, recordAudit, verifyAudit } from "../../../src/app/audit-log.js";
import { insertActiveCertificate, supersede } from "../../../src/app/deps.js";
import { revokeDevice } from "../../../src/app/revoke-device.js";
import { revokeOperator } from "../../../src/app/revoke-operator.js";
import { nextEntry } from "../../../src/domain/audit-chain.js";
import { assertTokenUsable } from "../../../src/domain/bootstrap-token.js";
import { FleetgateError } from "../../../src/domain/errors.js";
import type { Registry } from "../../../src/ports.js";
import {
  certificate,
  clock,
  device,
  enrollUnit,
  NOW,
  operator,
  refusal,
  revocationDeps,
  seed,
  token,
  useRegistry,
  type OpenRegistry,
} from "./fixtures.js";

const times = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Spend one use of a token and record a new device with its certificate, as the port's example unit. */
function spendAndRecord(registry: Registry, tokenHash: string, deviceId: string): Promise<string> {
  return registry.transact(async (tx) => {
    const found = await tx.tokenByHash(tokenHash);
    assertTokenUsable(found, NOW);
    await tx.updateToken(found.id, { usesLeft: found.usesLeft - 1 });
    await tx.insertDevice(device(deviceId));
    const cert = certificate(deviceId);
    await tx.insertCertificate(cert);
    return cert.serial;
  });
}

/** The renewal unit of src/app/renew-device.ts: the presented certificate must still be active. */
function renewUnit(registry: Registry, serial: string, deviceId: string): Promise<void> {
  return registry.transact(async (tx) => {
    const current = await tx.certificate(serial);
    const owner = await tx.device(deviceId);
    if (current?.status !== "active" || owner?.status !== "active") throw new FleetgateError("certificate_not_active");
    await supersede(tx, current, NOW);
    await insertActiveCertificate(tx, certificate(deviceId), NOW);
  });
}

async function activeCertificates(registry: Registry, deviceId: string): Promise<string[]> {
  return (await registry.listCertificates(deviceId)).filter((c) => c.status === "active").map((c) => c.serial);
}

export function racesContract(open: OpenRegistry): void {
  describe("races between units of work", () => {
    const r = useRegistry(open);

    it("a single-use token raced by 20 units yields exactly one certificate; the others get token_used", async () => {
      const t = token({ prefix: "race-" });
      await seed(r.registry, { tokens: [t] });
      const outcomes = await Promise.all(
        times(20).map((i) => refusal(spendAndRecord(r.registry, t.hash, `race-${i}`))),
      );
      expect(outcomes.filter((o) => o === "no error")).toHaveLength(1);
      expect(outcomes.filter((o) => o === "token_used")).toHaveLength(19);
      expect((await r.registry.findTokenByHash(t.hash))?.usesLeft).toBe(0);
      const page = await r.registry.listDevices({ limit: 100 });
      expect(page.items).toHaveLength(1);
      expect(await activeCertificates(r.registry, page.items[0]!.id)).toHaveLength(1);
    });

    it("a token with 3 uses raced by 20 enrollments yields exactly 3 devices, each audited once", async () => {
      const t = token({ prefix: "race-", usesTotal: 3, usesLeft: 3 });
      await seed(r.registry, { tokens: [t] });
      const outcomes = await Promise.all(
        times(20).map((i) => refusal(enrollUnit(r.registry, t.hash, certificate(`race-${i}`)))),
      );
      expect(outcomes.filter((o) => o === "no error")).toHaveLength(3);
      expect(outcomes.filter((o) => o === "token_used")).toHaveLength(17);
      expect(await r.registry.countDevices()).toEqual({ total: 3, revoked: 0 });
      expect(await verifyAudit(r.registry)).toMatchObject({ ok: true, entries: 3 });
    });

    it("a revocation and an enrollment of the same device never both win", async () => {
      const ids = times(20).map((i) => `dev-${i}`);
      for (const round of [1, 2, 3]) {
        const tokens = ids.map((id) => token({ id: `t${round}-${id}`, deviceId: id }));
        const devices = round === 1 ? ids.map((id) => device(id)) : [];
        const certificates = round === 1 ? ids.map((id) => certificate(id)) : [];
        await seed(r.registry, { tokens, devices, certificates });
        const races = ids.flatMap((id, i) => [
          refusal(revokeDevice(revocationDeps(r.registry), id, "keyCompromise", "operator:test")),
          refusal(enrollUnit(r.registry, tokens[i]!.hash, certificate(id))),
        ]);
        const outcomes = await Promise.all(races);
        for (const [i, id] of ids.entries()) {
          expect(outcomes[2 * i]).toBe("no error");
          expect(["no error", "device_revoked"]).toContain(outcomes[2 * i + 1]);
          expect((await r.registry.getDevice(id))?.status).toBe("revoked");
          expect(await activeCertificates(r.registry, id)).toEqual([]);
        }
        // Reset for the next round: active again, every certificate stays revoked.
        await r.registry.transact(async (tx) => {
          for (const id of ids)
            await tx.updateDevice(id, { status: "active", revokedAt: null, revocationReason: null });
        });
      }
      expect((await verifyAudit(r.registry)).ok).toBe(true);
    });

    it("a renewal and a revocation of the same device never leave it revoked with an active certificate", async () => {
      const ids = times(20).map((i) => `dev-${i}`);
      const certificates = ids.map((id) => certificate(id));
      await seed(r.registry, { devices: ids.map((id) => device(id)), certificates });
      const outcomes = await Promise.all(
        ids.flatMap((id, i) => [
          refusal(revokeDevice(revocationDeps(r.registry), id, "keyCompromise", "operator:test")),
          refusal(renewUnit(r.registry, certificates[i]!.serial, id)),
        ]),
      );
      for (const [i, id] of ids.entries()) {
        expect(outcomes[2 * i]).toBe("no error");
        expect(["no error", "certificate_not_active"]).toContain(outcomes[2 * i + 1]);
        expect(await activeCertificates(r.registry, id)).toEqual([]);
      }
    });

    it("two device tokens enrolling the same new device leave it exactly one active certificate", async () => {
      const tokens = times(5).map((i) => token({ id: `same${i}`, deviceId: "dev-new" }));
      await seed(r.registry, { tokens });
      const outcomes = await Promise.allSettled(
        tokens.map((t) => enrollUnit(r.registry, t.hash, certificate("dev-new"))),
      );
      const won = outcomes.filter((o) => o.status === "fulfilled").length;
      expect(won).toBeGreaterThanOrEqual(1);
      expect(await activeCertificates(r.registry, "dev-new")).toHaveLength(1);
      const spent = (await r.registry.listTokens()).filter((t) => t.usesLeft === 0);
      expect(spent).toHaveLength(won);
      expect(await verifyAudit(r.registry)).toMatchObject({ ok: true, entries: won });
    });

    it("50 concurrent audit appends get seqs 1..50 in one chain that verifies", async () => {
      const entries = await Promise.all(
        times(50).map((i) =>
          recordAudit(r.registry, { actor: "test", action: "note", subject: `s${i}`, details: { i } }, NOW + i),
        ),
      );
      expect(entries.map((e) => e.seq).sort((a, b) => a - b)).toEqual(times(50).map((i) => i + 1));
      expect(await verifyAudit(r.registry, 7)).toMatchObject({ ok: true, entries: 50 });
      const log = await r.registry.listAudit({ afterSeq: 0, limit: 100 });
      expect(log.map((e) => e.seq)).toEqual(times(50).map((i) => i + 1));
      expect(await r.registry.auditHead()).toEqual({ seq: 50, hash: log[49]!.hash });
    });

    it("tx.appendAudit refuses an entry that does not follow the head", async () => {
      const content = { at: NOW, actor: "test", action: "note", subject: null, details: {} };
      const first = await recordAudit(r.registry, content, NOW);
      const head = await r.registry.auditHead();
      const skipping = nextEntry({ seq: head.seq + 1, hash: head.hash }, content);
      const wrongLink = nextEntry({ seq: head.seq, hash: "f".repeat(64) }, content);
      const stale = nextEntry({ seq: 0, hash: "0".repeat(64) }, content);
      for (const entry of [skipping, wrongLink, stale])
        await expect(r.registry.transact((tx) => tx.appendAudit(entry))).rejects.toThrow();
      expect(await r.registry.auditHead()).toEqual({ seq: 1, hash: first.hash });
      await r.registry.transact((tx) => appendAudit(tx, content, NOW + 1));
      expect(await verifyAudit(r.registry)).toMatchObject({ ok: true, entries: 2 });
    });

    it("two concurrent revocations of the only two active operators: exactly one succeeds", async () => {
      await seed(r.registry, { operators: [operator("op-0")] });
      for (const round of times(10).map((i) => i + 1)) {
        const remaining = (await r.registry.listOperators()).find((o) => o.status === "active")!;
        await seed(r.registry, { operators: [operator(`op-${round}`)] });
        const outcomes = await Promise.all(
          [remaining.name, `op-${round}`].map((name) =>
            refusal(revokeOperator({ registry: r.registry, clock }, name, "test")),
          ),
        );
        expect(outcomes.sort()).toEqual(["malformed_request", "no error"]);
        expect((await r.registry.listOperators()).filter((o) => o.status === "active")).toHaveLength(1);
      }
    });

    it("concurrent CRL units number an issuer's CRLs 1..10 without a gap or a repeat", async () => {
      const numbers = await Promise.all(
        times(10).map(() =>
          r.registry.transact(async (tx) => {
            const number = ((await tx.crlState("issuing-ca"))?.number ?? 0) + 1;
            await tx.saveCrl({ issuer: "issuing-ca", number, thisUpdate: NOW + number, der: new Uint8Array([number]) });
            return number;
          }),
        ),
      );
      expect(numbers.sort((a, b) => a - b)).toEqual(times(10).map((i) => i + 1));
      expect(await r.registry.currentCrl("issuing-ca")).toMatchObject({ number: 10, thisUpdate: NOW + 10 });
    });

    it("concurrent last-seen batches over overlapping devices all commit", async () => {
      const ids = times(30).map((i) => `dev-${i}`);
      await seed(r.registry, { devices: ids.map((id) => device(id)) });
      const batches = times(10).map((i) => (i % 2 === 0 ? ids : [...ids].reverse()));
      await Promise.all(batches.map((batch, i) => r.registry.transact((tx) => tx.touchDevices(batch, NOW + i))));
      const seen = (await r.registry.listDevices({ limit: 100 })).items.map((d) => d.lastSeenAt);
      expect(new Set(seen).size).toBe(1);
      expect(seen[0]).toBeGreaterThanOrEqual(NOW);
    });
  });
}
