import type { SqliteRegistry } from "../../src/adapters/sqlite/registry.js";
import { hashToken } from "../../src/domain/bootstrap-token.js";

/** Row counts that must not move when a request is refused. */
export interface RegistryCounts {
  readonly devices: number;
  readonly certificates: number;
  readonly audit: number;
}

export function registryCounts(registry: SqliteRegistry): RegistryCounts {
  const n = (table: string) => (registry.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  return { devices: n("devices"), certificates: n("certificates"), audit: n("audit_log") };
}

export async function tokenUsesLeft(registry: SqliteRegistry, token: string): Promise<number | undefined> {
  return (await registry.findTokenByHash(hashToken(token)))?.usesLeft;
}
