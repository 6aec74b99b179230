import type { Page } from "../../ports.js";

/** A page limit the registry adapters accept (the port's DeviceQuery.limit is at least 1). */
export function assertPageLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`page limit ${limit} is not ≥ 1`);
}

/**
 * Keyset pagination: adapters fetch `limit + 1` rows ordered by key; the extra row only says there is
 * more, and the next page starts after the last key of this one.
 */
export function keysetPage<T>(rows: readonly T[], limit: number, keyOf: (row: T) => string): Page<T> {
  const items = rows.slice(0, limit);
  return { items, next: rows.length > limit ? keyOf(items[items.length - 1]!) : null };
}
