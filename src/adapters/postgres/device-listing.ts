import type { DeviceQuery, DeviceSummary, Page } from "../../ports.js";
import type { Queryable } from "./pool.js";
import { COLUMNS } from "./sql.js";
import { assertPageLimit, keysetPage } from "../shared/keyset-page.js";

/** Above every character a device id may hold: `id >= prefix AND id < prefix || TOP` is an index range. */
const TOP = "\u{10FFFF}";

/**
 * One page of `GET /v1/devices`, as the SQLite registry's: keyset pagination on the primary key (cost
 * independent of the page number), filters as index conditions. The id column is COLLATE "C", so
 * `id > cursor`, the prefix range and ORDER BY are byte order, and the prefix is a range rather than
 * LIKE (whose `_` and `%` would match more than the prefix).
 */
export async function listDevices(db: Queryable, query: DeviceQuery): Promise<Page<DeviceSummary>> {
  assertPageLimit(query.limit);
  const values: unknown[] = [query.after ?? ""];
  const param = (value: unknown) => `$${values.push(value)}`;
  const inner = [`d.id > $1`];
  if (query.status !== undefined) inner.push(`d.status = ${param(query.status)}`);
  if (query.prefix !== undefined) inner.push(`d.id >= ${param(query.prefix)} AND d.id < ${param(query.prefix + TOP)}`);
  if (query.ids !== undefined) inner.push(`d.id = ANY(${param([...query.ids])}::text[])`);
  const outer =
    query.expiringBefore === undefined ? "" : `WHERE "certificateNotAfter" < ${param(query.expiringBefore)}`;
  const sql = `SELECT * FROM (
      SELECT ${COLUMNS.listedDevice},
        (SELECT MAX(c.not_after) FROM certificates c WHERE c.device_id = d.id AND c.status = 'active')
          AS "certificateNotAfter"
      FROM devices d WHERE ${inner.join(" AND ")}
    ) listed ${outer} ORDER BY id LIMIT ${param(query.limit + 1)}`;
  const rows = (await db.query<DeviceSummary>(sql, values)).rows;
  return keysetPage(rows, query.limit, (device) => device.id);
}
