import { appendAudit } from "../../src/app/audit-log.js";
import { hashToken, type TokenRecord } from "../../src/domain/bootstrap-token.js";
import type { AuditEntry, DeviceStatus, Registry } from "../../src/ports.js";

/** Row counts that must not move when a request is refused. Read through the port, whatever the adapter. */
export interface RegistryCounts {
  readonly devices: number;
  readonly certificates: number;
  readonly audit: number;
}

export async function registryCounts(registry: Registry): Promise<RegistryCounts> {
  const { total } = await registry.countDevices();
  let certificates = 0;
  for (
    let after: string | undefined, page;
    (page = await registry.listDevices({ limit: 500, after }));
    after = page.next
  ) {
    for (const device of page.items) certificates += (await registry.listCertificates(device.id)).length;
    if (page.next === null) break;
  }
  return { devices: total, certificates, audit: (await registry.auditHead()).seq };
}

export async function tokenUsesLeft(registry: Registry, token: string): Promise<number | undefined> {
  return (await registry.findTokenByHash(hashToken(token)))?.usesLeft;
}

/** The whole audit log, in order. */
export function allAudit(registry: Registry): Promise<AuditEntry[]> {
  return registry.listAudit({ afterSeq: 0, limit: Number.MAX_SAFE_INTEGER });
}

/** A token record exactly as given (expired, revoked, unknown profile…), audited like a real one. */
export function insertTokenRecord(registry: Registry, token: TokenRecord): Promise<void> {
  return registry.transact(async (tx) => {
    await tx.insertToken(token);
    await appendAudit(tx, { actor: "test", action: "token.created", subject: token.id, details: {} }, token.createdAt);
  });
}

/** Changes a device's status behind the use cases' back (what a second server or an old bug would do). */
export function setDeviceStatus(registry: Registry, id: string, status: DeviceStatus): Promise<void> {
  return registry.transact((tx) => tx.updateDevice(id, { status }));
}

/** Records a certificate a test signed itself as the device's active one (the device is created if new). */
export function recordCertificate(
  registry: Registry,
  certificate: {
    serial: string;
    deviceId: string;
    role: string;
    profile: string;
    pem: string;
    notBefore: number;
    notAfter: number;
    /** The issuing CA that signed it (default ca-1, the one `init` makes). */
    issuer?: string;
  },
  at = Date.now(),
): Promise<void> {
  return registry.transact(async (tx) => {
    const { deviceId, role, profile, issuer = "ca-1", ...rest } = certificate;
    if ((await tx.device(deviceId)) === undefined) {
      await tx.insertDevice({
        id: deviceId,
        role,
        profile,
        status: "active",
        createdAt: at,
        revokedAt: null,
        revocationReason: null,
        lastSeenAt: null,
      });
    }
    await tx.insertCertificate({
      ...rest,
      deviceId,
      issuer,
      status: "active",
      issuedAt: at,
      revokedAt: null,
      revocationReason: null,
    });
    await appendAudit(tx, { actor: "test", action: "device.enrolled", subject: deviceId, details: {} }, at);
  });
}
