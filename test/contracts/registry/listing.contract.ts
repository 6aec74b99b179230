import { beforeEach, describe, expect, it } from "vitest";
import type { DeviceQuery, DeviceSummary, Registry } from "../../../src/ports.js";
import { certificate, DAY, device, NOW, seed, useRegistry, type OpenRegistry } from "./fixtures.js";

/**
 * Ids chosen so that byte order ("C"), the only order the cursor may use, differs from any
 * language-aware collation: upper case before lower case, '-' < '.' < digits < '_' < letters.
 */
const IDS = ["dev-b", "Dev-B", "dev_x", "dev.1", "dev-1", "dev-10", "DEV", "dev0", "dev-a", "dev-2", "a", "zz"];
const binary = (ids: readonly string[]) => [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const REVOKED = new Set(["dev-a", "Dev-B", "dev0"]);
const CUTOFF = NOW + 10 * DAY;

/**
 * Certificates: dev-1 expires before the cutoff; dev-2 has one active certificate before and one after
 * (its latest decides: not expiring); dev-10 has only a superseded one before the cutoff (not active);
 * dev-a (revoked) has a revoked one before it; dev-b expires before; the others have none.
 */
function certificates() {
  const superseded = { status: "superseded", revokedAt: NOW, revocationReason: "superseded" } as const;
  return [
    certificate("dev-1", { notAfter: NOW + DAY }),
    certificate("dev-2", { notAfter: NOW + 2 * DAY }),
    certificate("dev-2", { notAfter: NOW + 30 * DAY }),
    certificate("dev-10", { notAfter: NOW + DAY, ...superseded }),
    certificate("dev-10", { notAfter: NOW + 60 * DAY }),
    certificate("dev-a", { notAfter: NOW + DAY, status: "revoked", revokedAt: NOW, revocationReason: "keyCompromise" }),
    certificate("dev-b", { notAfter: NOW + 3 * DAY }),
  ];
}

async function walk(registry: Registry, query: Omit<DeviceQuery, "after">): Promise<DeviceSummary[][]> {
  const pages: DeviceSummary[][] = [];
  let after: string | undefined;
  for (;;) {
    const page = await registry.listDevices({ ...query, ...(after === undefined ? {} : { after }) });
    pages.push([...page.items]);
    if (page.next === null) return pages;
    expect(page.next).toBe(page.items[page.items.length - 1]!.id);
    after = page.next;
  }
}

const idsOf = (pages: DeviceSummary[][]) => pages.flat().map((d) => d.id);

export function listingContract(open: OpenRegistry): void {
  describe("listDevices and countDevices", () => {
    const r = useRegistry(open);

    beforeEach(async () => {
      const devices = IDS.map((id) =>
        device(id, REVOKED.has(id) ? { status: "revoked", revokedAt: NOW, revocationReason: "keyCompromise" } : {}),
      );
      await seed(r.registry, { devices, certificates: certificates() });
    });

    it("pages every device in byte order of ids, `next` the last id of a page while more exist", async () => {
      const pages = await walk(r.registry, { limit: 5 });
      expect(pages.map((p) => p.length)).toEqual([5, 5, 2]);
      expect(idsOf(pages)).toEqual(binary(IDS));
      expect(binary(IDS).slice(0, 4)).toEqual(["DEV", "Dev-B", "a", "dev-1"]);
    });

    it("ends with next = null when the last page is exactly full, or larger than what is left", async () => {
      expect((await walk(r.registry, { limit: 6 })).map((p) => p.length)).toEqual([6, 6]);
      expect(await r.registry.listDevices({ limit: 12 })).toMatchObject({ next: null });
      expect((await r.registry.listDevices({ limit: 100 })).items).toHaveLength(12);
    });

    it("treats `after` as exclusive, whether or not a device has that id", async () => {
      const sorted = binary(IDS);
      expect(idsOf([[...(await r.registry.listDevices({ limit: 100, after: "dev-1" })).items]])).toEqual(
        sorted.slice(sorted.indexOf("dev-1") + 1),
      );
      expect(idsOf([[...(await r.registry.listDevices({ limit: 100, after: "dev-0" })).items]])).toEqual(
        sorted.slice(sorted.indexOf("dev-1")),
      );
      expect(await r.registry.listDevices({ limit: 5, after: "zz" })).toEqual({ items: [], next: null });
    });

    it("filters by status", async () => {
      expect(idsOf(await walk(r.registry, { limit: 2, status: "revoked" }))).toEqual(binary([...REVOKED]));
      const active = IDS.filter((id) => !REVOKED.has(id));
      expect(idsOf(await walk(r.registry, { limit: 4, status: "active" }))).toEqual(binary(active));
    });

    it("filters by id prefix: case-sensitive, and `_` or `%` match only themselves", async () => {
      expect(idsOf(await walk(r.registry, { limit: 2, prefix: "dev-" }))).toEqual([
        "dev-1",
        "dev-10",
        "dev-2",
        "dev-a",
        "dev-b",
      ]);
      expect(idsOf(await walk(r.registry, { limit: 10, prefix: "dev_" }))).toEqual(["dev_x"]);
      expect(idsOf(await walk(r.registry, { limit: 10, prefix: "Dev" }))).toEqual(["Dev-B"]);
      expect(idsOf(await walk(r.registry, { limit: 10, prefix: "dev-1" }))).toEqual(["dev-1", "dev-10"]);
      expect(await r.registry.listDevices({ limit: 10, prefix: "d%" })).toEqual({ items: [], next: null });
    });

    it("filters by expiringBefore: the latest notAfter of a device's active certificates is before it", async () => {
      expect(idsOf(await walk(r.registry, { limit: 1, expiringBefore: CUTOFF }))).toEqual(["dev-1", "dev-b"]);
      expect(idsOf(await walk(r.registry, { limit: 10, expiringBefore: NOW + DAY }))).toEqual([]);
      expect(idsOf(await walk(r.registry, { limit: 10, expiringBefore: NOW + DAY + 1 }))).toEqual(["dev-1"]);
    });

    it("shows each device's facts and the latest notAfter of its active certificates", async () => {
      const { items } = await r.registry.listDevices({ limit: 100 });
      const byId = new Map(items.map((d) => [d.id, d]));
      expect(byId.get("dev-2")).toEqual({ ...device("dev-2"), certificateNotAfter: NOW + 30 * DAY });
      expect(byId.get("dev-10")?.certificateNotAfter).toBe(NOW + 60 * DAY);
      expect(byId.get("dev-a")).toEqual({
        ...device("dev-a", { status: "revoked", revokedAt: NOW, revocationReason: "keyCompromise" }),
        certificateNotAfter: null,
      });
      expect(byId.get("zz")?.certificateNotAfter).toBeNull();
    });

    it("filters by ids, ignoring unknown ones; an empty list matches nothing", async () => {
      const ids = ["zz", "dev-1", "nope", "DEV"];
      expect(idsOf(await walk(r.registry, { limit: 2, ids }))).toEqual(["DEV", "dev-1", "zz"]);
      expect(await r.registry.listDevices({ limit: 10, ids: [] })).toEqual({ items: [], next: null });
      expect(idsOf([[...(await r.registry.listDevices({ limit: 10, ids, after: "DEV" })).items]])).toEqual([
        "dev-1",
        "zz",
      ]);
    });

    it("combines filters", async () => {
      expect(idsOf(await walk(r.registry, { limit: 1, status: "revoked", prefix: "dev" }))).toEqual(["dev-a", "dev0"]);
      expect(idsOf(await walk(r.registry, { limit: 1, prefix: "dev-", expiringBefore: CUTOFF }))).toEqual([
        "dev-1",
        "dev-b",
      ]);
      const ids = ["dev-1", "dev-a", "dev-b", "zz"];
      expect(idsOf(await walk(r.registry, { limit: 10, ids, status: "active", expiringBefore: CUTOFF }))).toEqual([
        "dev-1",
        "dev-b",
      ]);
      expect(idsOf(await walk(r.registry, { limit: 10, ids, prefix: "dev-", status: "revoked" }))).toEqual(["dev-a"]);
      expect(await r.registry.listDevices({ limit: 10, status: "revoked", expiringBefore: CUTOFF })).toEqual({
        items: [],
        next: null,
      });
    });

    it("counts devices, in total and revoked", async () => {
      expect(await r.registry.countDevices()).toEqual({ total: IDS.length, revoked: REVOKED.size });
    });
  });
}
