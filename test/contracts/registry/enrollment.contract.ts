import { describe, expect, it } from "vitest";
import { verifyAudit } from "../../../src/app/audit-log.js";
import { enrollDevice } from "../../../src/app/enroll-device.js";
import { issueToken } from "../../../src/app/issue-token.js";
import { renewDevice } from "../../../src/app/renew-device.js";
import { resetDevice, revokeDevice } from "../../../src/app/revoke-device.js";
import { hashToken, type TokenRecord } from "../../../src/domain/bootstrap-token.js";
import type { Registry } from "../../../src/ports.js";
import {
  certificate,
  clock,
  csrFor,
  device,
  enrollmentDeps,
  enrollUnit,
  NOW,
  refusal,
  revocationDeps,
  seed,
  token,
  useRegistry,
  type OpenRegistry,
} from "./fixtures.js";

/** What a refused enrollment must leave exactly as it was. */
async function snapshot(registry: Registry, deviceId: string, tokenHash: string) {
  return {
    counts: await registry.countDevices(),
    device: await registry.getDevice(deviceId),
    certificates: await registry.listCertificates(deviceId),
    head: await registry.auditHead(),
    token: await registry.findTokenByHash(tokenHash),
  };
}

async function issue(registry: Registry, scope: { deviceId: string } | { prefix: string; uses: number }) {
  const deps = { registry, clock, profiles: new Set(["device"]) };
  return issueToken(deps, { ...scope, ttlMs: 3_600_000, profile: "device", actor: "operator:test" });
}

export function enrollmentContract(open: OpenRegistry): void {
  describe("use cases", () => {
    const r = useRegistry(open);

    describe("enrollment units of work", () => {
      it("spend one use per enrollment and record device, certificate and audit together", async () => {
        const { token: plain, record } = await issue(r.registry, { prefix: "fab-", uses: 2 });
        const deps = enrollmentDeps(r.registry);
        const first = await enrollDevice(deps, { token: plain, csrDer: csrFor("fab-1") });
        expect((await r.registry.findTokenByHash(record.hash))?.usesLeft).toBe(1);
        expect(await r.registry.getDevice("fab-1")).toMatchObject({ id: "fab-1", status: "active", createdAt: NOW });
        expect(await r.registry.getCertificate(first.serial)).toMatchObject({ deviceId: "fab-1", status: "active" });
        await enrollDevice(deps, { token: plain, csrDer: csrFor("fab-2") });
        expect(await refusal(enrollDevice(deps, { token: plain, csrDer: csrFor("fab-3") }))).toBe("token_used");
        const actions = (await r.registry.listAudit({ afterSeq: 0, limit: 10 })).map((e) => e.action);
        expect(actions).toEqual(["token.created", "device.enrolled", "device.enrolled"]);
      });

      it.each<[string, Partial<TokenRecord>, string]>([
        ["used", { usesLeft: 0 }, "token_used"],
        ["expired", { expiresAt: NOW }, "token_expired"],
        ["revoked", { revokedAt: NOW - 1 }, "token_revoked"],
      ])("a %s token records nothing", async (_label, overrides, code) => {
        const t = token(overrides);
        await seed(r.registry, { tokens: [t] });
        const before = await snapshot(r.registry, "dev-1", t.hash);
        expect(await refusal(enrollUnit(r.registry, t.hash, certificate("dev-1")))).toBe(code);
        expect(await snapshot(r.registry, "dev-1", t.hash)).toEqual(before);
      });

      it("an unknown token records nothing", async () => {
        expect(await refusal(enrollUnit(r.registry, hashToken("nope"), certificate("dev-1")))).toBe("token_invalid");
        expect(await r.registry.countDevices()).toEqual({ total: 0, revoked: 0 });
        expect((await r.registry.auditHead()).seq).toBe(0);
      });

      it("a failure after the spend (a duplicate serial) rolls the spend back too", async () => {
        const first = token();
        const second = token({ deviceId: "dev-2" });
        await seed(r.registry, { tokens: [first, second] });
        await enrollUnit(r.registry, first.hash, certificate("dev-1", { serial: "bb" }));
        const before = await snapshot(r.registry, "dev-2", second.hash);
        await expect(enrollUnit(r.registry, second.hash, certificate("dev-2", { serial: "bb" }))).rejects.toThrow(
          /unique/i,
        );
        expect(await snapshot(r.registry, "dev-2", second.hash)).toEqual(before);
        expect(before.token?.usesLeft).toBe(1);
      });

      it("a group token cannot mint a second identity for an existing device", async () => {
        const single = token();
        const group = token({ prefix: "dev-", usesTotal: 5, usesLeft: 5 });
        await seed(r.registry, { tokens: [single, group] });
        await enrollUnit(r.registry, single.hash, certificate("dev-1"));
        const before = await snapshot(r.registry, "dev-1", group.hash);
        expect(await refusal(enrollUnit(r.registry, group.hash, certificate("dev-1")))).toBe("device_exists");
        expect(await snapshot(r.registry, "dev-1", group.hash)).toEqual(before);
      });

      it("a revoked device cannot enroll again, even with a token of its own", async () => {
        const again = token();
        await seed(r.registry, { tokens: [again], devices: [device("dev-1", { status: "revoked", revokedAt: NOW })] });
        const before = await snapshot(r.registry, "dev-1", again.hash);
        expect(await refusal(enrollUnit(r.registry, again.hash, certificate("dev-1")))).toBe("device_revoked");
        expect(await snapshot(r.registry, "dev-1", again.hash)).toEqual(before);
      });

      it("a device's own new token replaces its credential: the old certificate is superseded", async () => {
        const [first, again] = [token(), token()];
        await seed(r.registry, { tokens: [first, again] });
        await enrollUnit(r.registry, first.hash, certificate("dev-1", { serial: "c1" }));
        await enrollUnit(r.registry, again.hash, certificate("dev-1", { serial: "c2" }), NOW + 1);
        const certs = (await r.registry.listCertificates("dev-1")).map((c) => [c.serial, c.status, c.revokedAt]);
        expect(certs.sort()).toEqual([
          ["c1", "superseded", NOW + 1],
          ["c2", "active", null],
        ]);
      });

      it("judges the token again inside the unit: one revoked while signing issues nothing", async () => {
        const { token: plain, record } = await issue(r.registry, { deviceId: "dev-1" });
        const deps = enrollmentDeps(r.registry, async () => {
          await r.registry.transact((tx) => tx.updateToken(record.id, { revokedAt: NOW }));
        });
        expect(await refusal(enrollDevice(deps, { token: plain, csrDer: csrFor("dev-1") }))).toBe("token_revoked");
        expect(await r.registry.getDevice("dev-1")).toBeUndefined();
        expect((await r.registry.findTokenByHash(record.hash))?.usesLeft).toBe(1);
      });

      it("judges the device again inside the unit: one revoked while signing gets no certificate", async () => {
        const { token: plain } = await issue(r.registry, { deviceId: "dev-1" });
        await seed(r.registry, { devices: [device("dev-1")] });
        const deps = enrollmentDeps(r.registry, async () => {
          await revokeDevice(revocationDeps(r.registry), "dev-1", "keyCompromise", "operator:test");
        });
        expect(await refusal(enrollDevice(deps, { token: plain, csrDer: csrFor("dev-1") }))).toBe("device_revoked");
        expect(await r.registry.listCertificates("dev-1")).toEqual([]);
      });
    });

    describe("renewal and revocation use cases", () => {
      it("renewal supersedes the old certificate; the old serial cannot renew twice", async () => {
        const old = certificate("dev-1", { serial: "d1" });
        await seed(r.registry, { devices: [device("dev-1")], certificates: [old] });
        const presented = { identity: { deviceId: "dev-1", role: "device", serial: "d1" }, ...old };
        const deps = enrollmentDeps(r.registry);
        const renewed = await renewDevice(deps, presented, csrFor("dev-1"));
        expect((await r.registry.getCertificate("d1"))?.status).toBe("superseded");
        expect((await r.registry.getCertificate(renewed.serial))?.status).toBe("active");
        const head = await r.registry.auditHead();
        expect(await refusal(renewDevice(deps, presented, csrFor("dev-1")))).toBe("certificate_not_active");
        expect(await r.registry.listCertificates("dev-1")).toHaveLength(2);
        expect(await r.registry.auditHead()).toEqual(head);
      });

      it("revocation marks the device and its certificates revoked once; a reset lets it enroll again", async () => {
        const certs = [certificate("dev-1"), certificate("dev-1", { status: "superseded", revokedAt: NOW - 1 })];
        await seed(r.registry, { devices: [device("dev-1")], certificates: certs });
        const deps = revocationDeps(r.registry);
        const result = await revokeDevice(deps, "dev-1", "keyCompromise", "operator:test");
        expect(result).toMatchObject({ alreadyRevoked: false, reason: "keyCompromise" });
        expect([...result.serials].sort()).toEqual(certs.map((c) => c.serial).sort());
        expect(await r.registry.getDevice("dev-1")).toMatchObject({
          status: "revoked",
          revocationReason: "keyCompromise",
        });
        expect(await r.registry.countDevices()).toEqual({ total: 1, revoked: 1 });
        const again = await revokeDevice(deps, "dev-1", "superseded", "operator:test");
        expect(again).toMatchObject({ alreadyRevoked: true, reason: "keyCompromise", serials: [] });
        expect(await refusal(revokeDevice(deps, "dev-2", "keyCompromise", "operator:test"))).toBe("not_found");
        expect(await resetDevice(deps, "dev-1", "operator:test")).toBe(true);
        expect(await r.registry.getDevice("dev-1")).toEqual(device("dev-1"));
        expect((await r.registry.listCertificates("dev-1")).map((c) => c.status)).toEqual(["revoked", "revoked"]);
        expect(await verifyAudit(r.registry)).toMatchObject({ ok: true, entries: 2 });
      });
    });
  });
}
