import { describe, expect, it } from "vitest";
import { pruneSupersededCertificates } from "../../../src/app/prune-certificates.js";
import { certificate, clock, DAY, device, NOW, operator, seed, useRegistry, type OpenRegistry } from "./fixtures.js";

const superseded = { status: "superseded", revokedAt: NOW - DAY, revocationReason: "superseded" } as const;
const revoked = { status: "revoked", revokedAt: NOW - DAY, revocationReason: "keyCompromise" } as const;

/** Which issuing CA issued what (issuing-CA rollover), and pruning what renewals leave behind. */
export function issuersContract(open: OpenRegistry): void {
  describe("issuing CAs and pruning", () => {
    const r = useRegistry(open);

    it("keeps each certificate's and operator's issuer", async () => {
      const c = certificate("dev-1", { issuer: "ca-2" });
      const o = operator("alice", { issuer: "ca-7" });
      await seed(r.registry, { devices: [device("dev-1")], certificates: [c], operators: [o] });
      expect((await r.registry.getCertificate(c.serial))?.issuer).toBe("ca-2");
      expect((await r.registry.transact((tx) => tx.certificatesOf("dev-1")))[0]?.issuer).toBe("ca-2");
      expect((await r.registry.getOperator(o.serial))?.issuer).toBe("ca-7");
    });

    it("lists one issuer's inactive certificates, only those expiring at or after notAfterFrom", async () => {
      const certificates = [
        certificate("dev-1", { serial: "01", ...revoked, notAfter: NOW + DAY }),
        certificate("dev-1", { serial: "02", ...revoked, notAfter: NOW - 1, issuer: "ca-1" }),
        certificate("dev-1", { serial: "03", ...superseded, notAfter: NOW, issuer: "ca-2" }),
        certificate("dev-1", { serial: "04", ...revoked, notAfter: NOW + DAY, issuer: "ca-2" }),
        certificate("dev-1", { serial: "05", notAfter: NOW + DAY, issuer: "ca-2" }),
      ];
      await seed(r.registry, { devices: [device("dev-1")], certificates });
      const serials = async (issuer: string, notAfterFrom: number) => [
        (await r.registry.listRevokedCertificates({ issuer, notAfterFrom })).map((c) => c.serial),
        (await r.registry.transact((tx) => tx.revokedCertificates({ issuer, notAfterFrom }))).map((c) => c.serial),
      ];
      expect(await serials("ca-1", NOW)).toEqual([["01"], ["01"]]);
      expect(await serials("ca-1", NOW - 1)).toEqual([
        ["01", "02"],
        ["01", "02"],
      ]);
      expect(await serials("ca-2", NOW)).toEqual([
        ["03", "04"],
        ["03", "04"],
      ]);
      expect(await serials("ca-3", 0)).toEqual([[], []]);
    });

    it("reports what an issuer still vouches for: unexpired certificates of any status, active operators", async () => {
      const certificates = [
        certificate("dev-1", { notAfter: NOW + DAY }),
        certificate("dev-1", { ...revoked, notAfter: NOW + 2 * DAY }),
        certificate("dev-1", { ...superseded, notAfter: NOW }),
        certificate("dev-1", { ...superseded, notAfter: NOW - 1 }),
        certificate("dev-1", { notAfter: NOW + 9 * DAY, issuer: "ca-2" }),
      ];
      const operators = [
        operator("alice", { notAfter: NOW + 3 * DAY }),
        operator("bob", { status: "revoked", revokedAt: NOW, notAfter: NOW + 30 * DAY }),
        operator("carol", { notAfter: NOW - 1 }),
      ];
      await seed(r.registry, { devices: [device("dev-1")], certificates, operators });
      expect(await r.registry.issuerUsage("ca-1", NOW)).toEqual({
        validCertificates: 3,
        activeOperators: 1,
        lastNotAfter: NOW + 3 * DAY,
      });
      expect(await r.registry.issuerUsage("ca-2", NOW)).toEqual({
        validCertificates: 1,
        activeOperators: 0,
        lastNotAfter: NOW + 9 * DAY,
      });
      expect(await r.registry.issuerUsage("ca-9", NOW)).toEqual({
        validCertificates: 0,
        activeOperators: 0,
        lastNotAfter: null,
      });
    });

    it("finds an issuer's unrevoked, unexpired certificates across devices", async () => {
      const certificates = [
        certificate("dev-1", { serial: "0b", notAfter: NOW }),
        certificate("dev-2", { serial: "0a", ...superseded, notAfter: NOW + DAY }),
        certificate("dev-2", { serial: "0c", ...revoked, notAfter: NOW + DAY }),
        certificate("dev-2", { serial: "0d", notAfter: NOW - 1 }),
        certificate("dev-2", { serial: "0e", notAfter: NOW + DAY, issuer: "ca-2" }),
      ];
      await seed(r.registry, { devices: [device("dev-1"), device("dev-2")], certificates });
      const found = await r.registry.transact((tx) => tx.unrevokedValidCertificatesOf("ca-1", NOW));
      expect(found.map((c) => [c.serial, c.deviceId])).toEqual([
        ["0a", "dev-2"],
        ["0b", "dev-1"],
      ]);
    });

    it("finds superseded certificates expired before an instant, oldest first, and deletes only superseded ones", async () => {
      const certificates = [
        certificate("dev-1", { serial: "01", ...superseded, notAfter: NOW - 3 }),
        certificate("dev-1", { serial: "02", ...superseded, notAfter: NOW - 5 }),
        certificate("dev-1", { serial: "03", ...superseded, notAfter: NOW }),
        certificate("dev-1", { serial: "04", ...revoked, notAfter: NOW - 9 }),
        certificate("dev-1", { serial: "05", notAfter: NOW - 9 }),
      ];
      await seed(r.registry, { devices: [device("dev-1")], certificates });
      const found = await r.registry.transact((tx) => tx.supersededExpiredBefore(NOW, 10));
      expect(found.map((c) => c.serial)).toEqual(["02", "01"]);
      expect((await r.registry.transact((tx) => tx.supersededExpiredBefore(NOW, 1))).map((c) => c.serial)).toEqual([
        "02",
      ]);
      const deleted = await r.registry.transact((tx) => tx.deleteSupersededCertificates(["02", "04", "05", "ff"]));
      expect(deleted).toBe(1);
      expect(await r.registry.transact((tx) => tx.deleteSupersededCertificates([]))).toBe(0);
      const left = (await r.registry.listCertificates("dev-1")).map((c) => c.serial).sort();
      expect(left).toEqual(["01", "03", "04", "05"]);
    });

    it("prunes superseded certificates past their retention in batches, and nothing else", async () => {
      const old = (serial: string) => certificate("dev-1", { serial, ...superseded, notAfter: NOW - 2 * DAY });
      const certificates = [
        ...["01", "02", "03", "04", "05"].map(old),
        certificate("dev-1", { serial: "06", ...superseded, notAfter: NOW - DAY + 1 }),
        certificate("dev-1", { serial: "07", ...revoked, notAfter: NOW - 30 * DAY }),
        certificate("dev-1", { serial: "08" }),
      ];
      await seed(r.registry, { devices: [device("dev-1")], certificates });
      expect(await pruneSupersededCertificates({ registry: r.registry, clock }, DAY, 2)).toBe(5);
      expect((await r.registry.listCertificates("dev-1")).map((c) => c.serial).sort()).toEqual(["06", "07", "08"]);
      expect(await pruneSupersededCertificates({ registry: r.registry, clock }, DAY, 2)).toBe(0);
    });
  });
}
