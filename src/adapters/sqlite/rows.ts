import type { TokenRecord } from "../../domain/bootstrap-token.js";
import type {
  AuditEntry,
  CertificateRecord,
  CertificateState,
  DeviceRecord,
  DeviceSummary,
  IssuerUsage,
  OperatorRecord,
  RevokedCertificate,
} from "../../ports.js";

/** Rows as better-sqlite3 returns them, and the camelCase records of the port they map to. */
export type Row = Record<string, unknown>;

/** camelCase record field → snake_case column. */
export const column = (field: string): string => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A row → record mapper; `fields` must name every field of T (checked by the compiler). */
function fromRow<T>(fields: { readonly [K in keyof T]-?: true }): (r: Row) => T {
  const names = Object.keys(fields);
  return (r) => Object.fromEntries(names.map((name) => [name, r[column(name)]])) as T;
}

/** The fields of T as @named parameters (undefined → NULL): what an INSERT of a record binds. */
export function bindable(record: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).map(([name, value]) => [name, value ?? null]));
}

export const toToken = fromRow<TokenRecord>({
  id: true,
  hash: true,
  deviceId: true,
  prefix: true,
  profile: true,
  usesTotal: true,
  usesLeft: true,
  createdAt: true,
  expiresAt: true,
  revokedAt: true,
});

const deviceFields = {
  id: true,
  role: true,
  profile: true,
  status: true,
  createdAt: true,
  revokedAt: true,
  revocationReason: true,
  lastSeenAt: true,
} as const;
export const toDevice = fromRow<DeviceRecord>(deviceFields);
export const toDeviceSummary = fromRow<DeviceSummary>({ ...deviceFields, certificateNotAfter: true });

export const toCertificate = fromRow<CertificateRecord>({
  serial: true,
  deviceId: true,
  pem: true,
  notBefore: true,
  notAfter: true,
  status: true,
  issuedAt: true,
  revokedAt: true,
  revocationReason: true,
  issuer: true,
});

export const toCertificateState = fromRow<CertificateState>({
  serial: true,
  deviceId: true,
  status: true,
  notBefore: true,
  notAfter: true,
  deviceStatus: true,
});

export const toRevoked = (r: Row): RevokedCertificate => ({
  serial: r["serial"] as string,
  status: r["status"] as RevokedCertificate["status"],
  revokedAt: r["revoked_at"] as number,
  reason: (r["revocation_reason"] as string | null) ?? "unspecified",
  notAfter: r["not_after"] as number,
});

export const toIssuerUsage = (certificates: Row, operators: Row): IssuerUsage => {
  const last = [certificates["last"], operators["last"]].filter((v): v is number => typeof v === "number");
  return {
    validCertificates: certificates["valid"] as number,
    activeOperators: operators["active"] as number,
    lastNotAfter: last.length === 0 ? null : Math.max(...last),
  };
};

export const toOperator = fromRow<OperatorRecord>({
  serial: true,
  name: true,
  pem: true,
  status: true,
  createdAt: true,
  notAfter: true,
  revokedAt: true,
  issuer: true,
});

const auditColumns = fromRow<AuditEntry>({
  seq: true,
  at: true,
  actor: true,
  action: true,
  subject: true,
  details: true,
  prevHash: true,
  hash: true,
});
export const toAudit = (r: Row): AuditEntry => ({
  ...auditColumns(r),
  details: JSON.parse(r["details"] as string) as Record<string, unknown>,
});
