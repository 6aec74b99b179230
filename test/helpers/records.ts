import type { TokenRecord } from "../../src/domain/bootstrap-token.js";

/** The fixed "now" of the record-level tests (domain rules, registry). */
export const FIXED_NOW = 1_700_000_000_000;

/** A usable single-device token record for dev-1, created a second before FIXED_NOW. */
export function tokenRecord(overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id: "t1",
    hash: "h",
    deviceId: "dev-1",
    prefix: null,
    profile: "device",
    usesTotal: 1,
    usesLeft: 1,
    createdAt: FIXED_NOW - 1000,
    expiresAt: FIXED_NOW + 1000,
    revokedAt: null,
    ...overrides,
  };
}
