import type { DeviceQuery, DeviceSummary, Page } from "../../ports.js";
import type { Db, Statement } from "./db.js";
import { assertPageLimit, keysetPage } from "../shared/keyset-page.js";
import { toDeviceSummary, type Row } from "./rows.js";

/** Above every character a device id may hold: `id >= prefix AND id < prefix || TOP` is an index range. */
const TOP = "\u{10FFFF}";

const BASE = `SELECT * FROM (
  SELECT d.*, (SELECT MAX(c.not_after) FROM certificates c WHERE c.device_id = d.id AND c.status = 'active')
    AS certificate_not_after
  FROM devices d WHERE d.id > @after`;

/**
 * One page of `GET /v1/devices`: keyset pagination on the primary key (cost independent of the page
 * number, so page 1,000 of 100,000 devices is as fast as page 1), filters as index conditions.
 * One statement per combination of filters, prepared on first use.
 */
export class DeviceListing {
  private readonly cache = new Map<string, Statement>();

  constructor(private readonly db: Db) {}

  list(query: DeviceQuery): Page<DeviceSummary> {
    assertPageLimit(query.limit);
    const { sql, key } = this.build(query);
    let statement = this.cache.get(key);
    if (statement === undefined) this.cache.set(key, (statement = this.db.prepare(sql)));
    const rows = statement.all({
      after: query.after ?? "",
      limit: query.limit + 1,
      status: query.status ?? null,
      prefix: query.prefix ?? null,
      prefixEnd: query.prefix === undefined ? null : query.prefix + TOP,
      expiringBefore: query.expiringBefore ?? null,
      ids: query.ids === undefined ? null : JSON.stringify(query.ids),
    }) as Row[];
    return keysetPage(rows.map(toDeviceSummary), query.limit, (device) => device.id);
  }

  private build(query: DeviceQuery): { sql: string; key: string } {
    const inner: string[] = [];
    const outer: string[] = [];
    if (query.status !== undefined) inner.push("d.status = @status");
    if (query.prefix !== undefined) inner.push("d.id >= @prefix AND d.id < @prefixEnd");
    if (query.ids !== undefined) inner.push("d.id IN (SELECT value FROM json_each(@ids))");
    if (query.expiringBefore !== undefined) outer.push("certificate_not_after < @expiringBefore");
    const where = inner.map((c) => ` AND ${c}`).join("");
    const having = outer.length > 0 ? ` WHERE ${outer.join(" AND ")}` : "";
    return { sql: `${BASE}${where}) ${having} ORDER BY id LIMIT @limit`, key: `${inner.join("|")}#${outer.join("|")}` };
  }
}
