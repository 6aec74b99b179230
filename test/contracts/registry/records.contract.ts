import { describe, expect, it } from "vitest";
import { issueToken } from "../../../src/app/issue-token.js";
import { LastSeen } from "../../../src/app/last-seen.js";
import { revokeToken } from "../../../src/app/revoke-token.js";
import { hashToken } from "../../../src/domain/bootstrap-token.js";
import {
  certificate,
  clock,
  DAY,
  device,
  NOW,
  operator,
  refusal,
  seed,
  token,
  useRegistry,
  type OpenRegistry,
} from "./fixtures.js";

const bySerial = <T extends { serial: string }>(items: readonly T[]) =>
  [...items].sort((a, b) => (a.serial < b.serial ? -1 : 1));

export function recordsContract(open: OpenRegistry): void {
  describe("stored facts", () => {
    const r = useRegistry(open);

    describe("tokens", () => {
      it("reads a token back by hash and by id, field for field", async () => {
        const group = token({ prefix: "fab-", usesTotal: 5, usesLeft: 5 });
        const single = token({ deviceId: "dev-9", createdAt: NOW + 1 });
        await seed(r.registry, { tokens: [group, single] });
        expect(await r.registry.findTokenByHash(group.hash)).toEqual(group);
        expect(await r.registry.transact((tx) => tx.tokenById(single.id))).toEqual(single);
        expect(await r.registry.findTokenByHash(hashToken("unknown"))).toBeUndefined();
        expect(await r.registry.transact((tx) => tx.tokenByHash(hashToken("unknown")))).toBeUndefined();
        expect(await r.registry.listTokens()).toHaveLength(2);
        expect(await r.registry.listTokens()).toEqual(expect.arrayContaining([group, single]));
      });

      it("stores only the token's hash: the plaintext appears nowhere the registry answers", async () => {
        const profiles = new Set(["device"]);
        const issued = await issueToken(
          { registry: r.registry, clock, profiles },
          { deviceId: "dev-1", ttlMs: 3_600_000, profile: "device", actor: "operator:test" },
        );
        expect(await r.registry.findTokenByHash(hashToken(issued.token))).toEqual(issued.record);
        const everything = JSON.stringify([
          await r.registry.listTokens(),
          await r.registry.listAudit({ afterSeq: 0, limit: 10 }),
        ]);
        expect(everything).not.toContain(issued.token);
        expect((await r.registry.listAudit({ afterSeq: 0, limit: 10 })).map((e) => e.action)).toEqual([
          "token.created",
        ]);
      });

      it("updates uses and revocation; a token revokes once", async () => {
        const t = token();
        await seed(r.registry, { tokens: [t] });
        await r.registry.transact((tx) => tx.updateToken(t.id, { usesLeft: 0 }));
        expect(await r.registry.findTokenByHash(t.hash)).toEqual({ ...t, usesLeft: 0 });
        await revokeToken({ registry: r.registry, clock }, t.id, "operator:test");
        expect(await refusal(revokeToken({ registry: r.registry, clock }, t.id, "operator:test"))).toBe("not_found");
        expect((await r.registry.findTokenByHash(t.hash))?.revokedAt).toBe(NOW);
        expect((await r.registry.listAudit({ afterSeq: 0, limit: 10 })).map((e) => e.action)).toEqual([
          "token.revoked",
        ]);
      });
    });

    describe("devices and certificates", () => {
      it("reads devices and certificates back field for field", async () => {
        const d = device("dev-1", { role: "sensor", profile: "service", lastSeenAt: NOW - 5 });
        const certs = [certificate("dev-1", { issuedAt: NOW - 10 }), certificate("dev-1", { issuedAt: NOW })];
        await seed(r.registry, { devices: [d, device("dev-2")], certificates: certs });
        expect(await r.registry.getDevice("dev-1")).toEqual(d);
        expect(await r.registry.transact((tx) => tx.device("dev-1"))).toEqual(d);
        expect(await r.registry.getDevice("nope")).toBeUndefined();
        expect(await r.registry.getCertificate(certs[0]!.serial)).toEqual(certs[0]);
        expect(await r.registry.transact((tx) => tx.certificate(certs[1]!.serial))).toEqual(certs[1]);
        expect(await r.registry.getCertificate("ffff")).toBeUndefined();
        expect(await r.registry.transact((tx) => tx.certificate("ffff"))).toBeUndefined();
        expect(bySerial(await r.registry.listCertificates("dev-1"))).toEqual(bySerial(certs));
        expect(bySerial(await r.registry.transact((tx) => tx.certificatesOf("dev-1")))).toEqual(bySerial(certs));
        expect(await r.registry.listCertificates("dev-2")).toEqual([]);
      });

      it("answers the admission question: the certificate's facts with its device's status", async () => {
        const c = certificate("dev-1");
        await seed(r.registry, { devices: [device("dev-1")], certificates: [c] });
        const { serial, deviceId, status, notBefore, notAfter } = c;
        expect(await r.registry.certificateState(serial)).toEqual({
          serial,
          deviceId,
          status,
          notBefore,
          notAfter,
          deviceStatus: "active",
        });
        await r.registry.transact((tx) => tx.updateDevice("dev-1", { status: "revoked", revokedAt: NOW }));
        expect((await r.registry.certificateState(serial))?.deviceStatus).toBe("revoked");
        expect(await r.registry.certificateState("ffff")).toBeUndefined();
      });

      it("counts active certificates expiring strictly before an instant", async () => {
        const inactive = { status: "revoked", revokedAt: NOW, revocationReason: "keyCompromise" } as const;
        const certificates = [
          certificate("dev-1", { notAfter: NOW + DAY }),
          certificate("dev-1", { notAfter: NOW + 2 * DAY }),
          certificate("dev-1", { notAfter: NOW + DAY, ...inactive }),
        ];
        await seed(r.registry, { devices: [device("dev-1")], certificates });
        expect(await r.registry.countActiveCertificatesExpiringBefore(NOW + DAY)).toBe(0);
        expect(await r.registry.countActiveCertificatesExpiringBefore(NOW + DAY + 1)).toBe(1);
        expect(await r.registry.countActiveCertificatesExpiringBefore(NOW + 3 * DAY)).toBe(2);
      });

      it("lists certificates no longer active with a recorded time, by revokedAt then serial", async () => {
        const gone = (
          status: "revoked" | "superseded",
          revokedAt: number | null,
          reason: string | null,
          serial: string,
        ) => certificate("dev-1", { serial, status, revokedAt, revocationReason: reason, notAfter: NOW + DAY });
        const certificates = [
          gone("revoked", NOW + 2, "keyCompromise", "0c"),
          gone("superseded", NOW + 1, "superseded", "0d"),
          gone("revoked", NOW + 1, "cessationOfOperation", "0b"),
          gone("revoked", NOW + 3, null, "0e"),
          gone("superseded", null, null, "0f"),
          certificate("dev-1", { serial: "0a", revokedAt: NOW, revocationReason: "keyCompromise" }),
        ];
        await seed(r.registry, { devices: [device("dev-1")], certificates });
        const expected = [
          { serial: "0b", status: "revoked", revokedAt: NOW + 1, reason: "cessationOfOperation", notAfter: NOW + DAY },
          { serial: "0d", status: "superseded", revokedAt: NOW + 1, reason: "superseded", notAfter: NOW + DAY },
          { serial: "0c", status: "revoked", revokedAt: NOW + 2, reason: "keyCompromise", notAfter: NOW + DAY },
          { serial: "0e", status: "revoked", revokedAt: NOW + 3, reason: "unspecified", notAfter: NOW + DAY },
        ];
        const query = { issuer: "ca-1", notAfterFrom: NOW };
        expect(await r.registry.listRevokedCertificates(query)).toEqual(expected);
        expect(await r.registry.transact((tx) => tx.revokedCertificates(query))).toEqual(expected);
      });

      it("records when sessions were last seen; unknown ids are ignored", async () => {
        await seed(r.registry, { devices: [device("dev-1"), device("dev-2"), device("dev-3")] });
        const lastSeen = new LastSeen(r.registry, clock);
        lastSeen.note("dev-1");
        lastSeen.note("dev-2");
        lastSeen.note("not-enrolled");
        expect(await lastSeen.flush()).toBe(3);
        await r.registry.transact((tx) => tx.touchDevices([], NOW + 1));
        expect((await r.registry.getDevice("dev-1"))?.lastSeenAt).toBe(NOW);
        const listed = (await r.registry.listDevices({ limit: 10 })).items.map((d) => [d.id, d.lastSeenAt]);
        expect(listed).toEqual([
          ["dev-1", NOW],
          ["dev-2", NOW],
          ["dev-3", null],
        ]);
      });
    });

    describe("operators", () => {
      it("reads operators back; only active ones count as active", async () => {
        const alice = operator("alice");
        const bob = operator("bob", { createdAt: NOW + 1 });
        await seed(r.registry, { operators: [alice, bob] });
        expect(await r.registry.getOperator(alice.serial)).toEqual(alice);
        expect(await r.registry.getOperator("ffff")).toBeUndefined();
        await r.registry.transact((tx) => tx.updateOperator(bob.serial, { status: "revoked", revokedAt: NOW + 2 }));
        const revokedBob = { ...bob, status: "revoked", revokedAt: NOW + 2 };
        expect(bySerial(await r.registry.listOperators())).toEqual(bySerial([alice, revokedBob]));
        expect(await r.registry.transact((tx) => tx.activeOperators())).toEqual([alice]);
      });
    });

    describe("CRL state", () => {
      it("stores one current CRL per issuer, replaced by the next", async () => {
        expect(await r.registry.currentCrl("issuing-ca")).toBeUndefined();
        expect(await r.registry.transact((tx) => tx.crlState("issuing-ca"))).toBeUndefined();
        const der = new Uint8Array([0x30, 0x82, 0x00, 0xff, 0x00]);
        const big = 2 ** 40;
        await r.registry.transact(async (tx) => {
          await tx.saveCrl({ issuer: "issuing-ca", number: 1, thisUpdate: NOW, der });
          await tx.saveCrl({ issuer: "other-ca", number: big, thisUpdate: NOW - 1, der: new Uint8Array([1]) });
        });
        const stored = await r.registry.currentCrl("issuing-ca");
        expect(stored).toMatchObject({ issuer: "issuing-ca", number: 1, thisUpdate: NOW });
        expect(stored!.der).toBeInstanceOf(Uint8Array);
        expect([...stored!.der]).toEqual([...der]);
        expect(stored!.der.byteLength).toBe(stored!.der.buffer.byteLength);
        await r.registry.transact((tx) =>
          tx.saveCrl({ issuer: "issuing-ca", number: 2, thisUpdate: NOW + 1, der: new Uint8Array([9]) }),
        );
        expect(await r.registry.currentCrl("issuing-ca")).toMatchObject({ number: 2, thisUpdate: NOW + 1 });
        expect([...(await r.registry.currentCrl("issuing-ca"))!.der]).toEqual([9]);
        expect(await r.registry.transact((tx) => tx.crlState("other-ca"))).toEqual({
          number: big,
          thisUpdate: NOW - 1,
        });
      });
    });

    describe("probeWrite", () => {
      it("commits its health row again and again without touching the registry's facts", async () => {
        await r.registry.probeWrite(NOW);
        await r.registry.probeWrite(NOW + 1);
        expect(await r.registry.countDevices()).toEqual({ total: 0, revoked: 0 });
        expect((await r.registry.auditHead()).seq).toBe(0);
      });
    });
  });
}
