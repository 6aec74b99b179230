import { COLUMNS } from "./sql.js";

/**
 * The fixed reads, each returning rows shaped as the port's records. A unit of work appends FOR UPDATE
 * to those it locks; reads outside a unit run on their own and see only committed data.
 * Orders match the SQLite registry's (ids and names sort in byte order: their columns are COLLATE "C").
 */
export const READS = {
  tokenByHash: `SELECT ${COLUMNS.token} FROM tokens WHERE hash = $1`,
  tokenById: `SELECT ${COLUMNS.token} FROM tokens WHERE id = $1`,
  tokens: `SELECT ${COLUMNS.token} FROM tokens ORDER BY created_at, id`,
  device: `SELECT ${COLUMNS.device} FROM devices WHERE id = $1`,
  countDevices: `SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE status = 'revoked') AS revoked FROM devices`,
  certificate: `SELECT ${COLUMNS.certificate} FROM certificates WHERE serial = $1`,
  certificatesOf: `SELECT ${COLUMNS.certificate} FROM certificates WHERE device_id = $1 ORDER BY issued_at, serial`,
  certificateState: `SELECT c.serial, c.device_id AS "deviceId", c.status, c.not_before AS "notBefore",
     c.not_after AS "notAfter", d.status AS "deviceStatus"
     FROM certificates c JOIN devices d ON d.id = c.device_id WHERE c.serial = $1`,
  expiringBefore: `SELECT COUNT(*) AS n FROM certificates WHERE status = 'active' AND not_after < $1`,
  revokedCertificates: `SELECT serial, status, revoked_at AS "revokedAt",
     COALESCE(revocation_reason, 'unspecified') AS reason, not_after AS "notAfter"
     FROM certificates WHERE issuer = $1 AND status <> 'active' AND revoked_at IS NOT NULL AND not_after >= $2
     ORDER BY revoked_at, serial`,
  issuerUsage: `SELECT
       (SELECT COUNT(*) FROM certificates WHERE issuer = $1 AND not_after >= $2) AS "validCertificates",
       (SELECT COUNT(*) FROM operators WHERE issuer = $1 AND status = 'active' AND not_after >= $2)
         AS "activeOperators",
       GREATEST((SELECT MAX(not_after) FROM certificates WHERE issuer = $1),
         (SELECT MAX(not_after) FROM operators WHERE issuer = $1 AND status = 'active' AND not_after >= $2))
         AS "lastNotAfter"`,
  supersededExpiredBefore: `SELECT ${COLUMNS.certificate} FROM certificates
     WHERE status = 'superseded' AND not_after < $1 ORDER BY not_after, serial LIMIT $2`,
  unrevokedValidOf: `SELECT ${COLUMNS.certificate} FROM certificates
     WHERE issuer = $1 AND not_after >= $2 AND status <> 'revoked' ORDER BY serial`,
  crl: `SELECT crl_number AS "number", this_update AS "thisUpdate", der FROM crl_state WHERE issuer = $1`,
  operators: `SELECT ${COLUMNS.operator} FROM operators ORDER BY name, created_at`,
  operator: `SELECT ${COLUMNS.operator} FROM operators WHERE serial = $1`,
  activeOperators: `SELECT ${COLUMNS.operator} FROM operators WHERE status = 'active' ORDER BY name, created_at`,
  audit: `SELECT ${COLUMNS.audit} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`,
  auditOf: `SELECT ${COLUMNS.audit} FROM audit_log WHERE subject = $3 AND seq > $1 ORDER BY seq LIMIT $2`,
  auditByAction: `SELECT ${COLUMNS.audit} FROM audit_log WHERE action = $3 AND seq > $1 ORDER BY seq LIMIT $2`,
  auditHead: `SELECT seq, hash FROM audit_head WHERE id = 1`,
} as const;
