import type { TokenRecord } from "../../domain/bootstrap-token.js";
import type { AuditEntry, CertificateRecord, DeviceRecord, OperatorRecord } from "../../ports.js";

/** camelCase record field → snake_case column. */
export const column = (field: string): string => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

type Fields<T> = readonly (keyof T & string)[];

/**
 * A select list that aliases every column to its record field (`created_at AS "createdAt"`), so a row
 * is the port's record as it comes back: BIGINT parses to number on the pool, JSON to an object.
 */
function selectList<T>(fields: Fields<T>, table?: string): string {
  const prefix = table === undefined ? "" : `${table}.`;
  return fields.map((f) => `${prefix}${column(f)} AS "${f}"`).join(", ");
}

const TOKEN: Fields<TokenRecord> = [
  "id",
  "hash",
  "deviceId",
  "prefix",
  "profile",
  "usesTotal",
  "usesLeft",
  "createdAt",
  "expiresAt",
  "revokedAt",
];
const DEVICE: Fields<DeviceRecord> = [
  "id",
  "role",
  "profile",
  "status",
  "createdAt",
  "revokedAt",
  "revocationReason",
  "lastSeenAt",
];
const CERTIFICATE: Fields<CertificateRecord> = [
  "serial",
  "deviceId",
  "pem",
  "notBefore",
  "notAfter",
  "status",
  "issuedAt",
  "revokedAt",
  "revocationReason",
  "issuer",
];
const OPERATOR: Fields<OperatorRecord> = [
  "serial",
  "name",
  "pem",
  "status",
  "createdAt",
  "notAfter",
  "revokedAt",
  "issuer",
];
const AUDIT: Fields<AuditEntry> = ["seq", "at", "actor", "action", "subject", "details", "prevHash", "hash"];

/** Each record's fields, in the order of its columns. */
export const FIELDS = { token: TOKEN, device: DEVICE, certificate: CERTIFICATE, operator: OPERATOR, audit: AUDIT };

export const COLUMNS = {
  token: selectList(TOKEN),
  device: selectList(DEVICE),
  listedDevice: selectList(DEVICE, "d"),
  certificate: selectList(CERTIFICATE),
  operator: selectList(OPERATOR),
  audit: selectList(AUDIT),
};

/** `INSERT INTO table (…every field…) VALUES ($1…)` and its values, in the fields' order. */
function insertOf(table: string, fields: readonly string[], record: object): [string, unknown[]] {
  const names = fields.map(column).join(", ");
  const placeholders = fields.map((_, i) => `$${i + 1}`).join(", ");
  const values = fields.map((f) => (record as Record<string, unknown>)[f] ?? null);
  return [`INSERT INTO ${table} (${names}) VALUES (${placeholders})`, values];
}

export const INSERTS = {
  token: (t: TokenRecord) => insertOf("tokens", TOKEN, t),
  device: (d: DeviceRecord) => insertOf("devices", DEVICE, d),
  certificate: (c: CertificateRecord) => insertOf("certificates", CERTIFICATE, c),
  operator: (o: OperatorRecord) => insertOf("operators", OPERATOR, o),
  audit: (e: AuditEntry) => insertOf("audit_log", AUDIT, { ...e, details: JSON.stringify(e.details) }),
};

/**
 * `UPDATE table SET <the given fields> WHERE key = $1`, or null when nothing changes. The field names come
 * from the port's typed change objects, never from a request, and each must be in `allowed`.
 */
export function updateOf(
  table: string,
  key: string,
  allowed: ReadonlySet<string>,
  keyValue: string,
  changes: Readonly<Record<string, unknown>>,
): [string, unknown[]] | null {
  const fields = Object.keys(changes).filter((f) => changes[f] !== undefined);
  if (fields.length === 0) return null;
  const unknown = fields.find((f) => !allowed.has(f));
  if (unknown !== undefined) throw new Error(`${table}.${unknown} cannot be updated`);
  const set = fields.map((f, i) => `${column(f)} = $${i + 2}`).join(", ");
  return [`UPDATE ${table} SET ${set} WHERE ${key} = $1`, [keyValue, ...fields.map((f) => changes[f] ?? null)]];
}
