import { GENESIS_HASH, nextEntry } from "../../src/domain/audit-chain.js";
import type { TokenRecord } from "../../src/domain/bootstrap-token.js";
import type { AuditEntry, CertificateRecord, DeviceRecord, Registry } from "../../src/ports.js";

const DAY = 86_400_000;
const BATCH = 5_000;
/** About the size of a device certificate PEM fleetgate issues (P-256, two CA URLs): the bytes a copy moves. */
const PEM_BODY = "M".repeat(64);
const pemOf = (serial: string) =>
  `-----BEGIN CERTIFICATE-----\n${serial}\n${`${PEM_BODY}\n`.repeat(11)}-----END CERTIFICATE-----\n`;

export interface FillSize {
  readonly devices: number;
  readonly audit: number;
}

function deviceAt(i: number, now: number): { device: DeviceRecord; certificate: CertificateRecord } {
  const id = `fleet-${String(i).padStart(7, "0")}`;
  const revoked = i % 100 === 7;
  const revocation = { revokedAt: revoked ? now : null, revocationReason: revoked ? "keyCompromise" : null };
  const serial = `b${i.toString(16).padStart(31, "0")}`;
  return {
    device: {
      id,
      role: "device",
      profile: "device",
      status: revoked ? "revoked" : "active",
      createdAt: now,
      lastSeenAt: now,
      ...revocation,
    },
    certificate: {
      serial,
      deviceId: id,
      pem: pemOf(serial),
      issuer: "ca-1",
      notBefore: now,
      notAfter: now + 90 * DAY,
      status: revoked ? "revoked" : "active",
      issuedAt: now,
      ...revocation,
    },
  };
}

function tokenAt(i: number, now: number): TokenRecord {
  const hash = i.toString(16).padStart(64, "0");
  const scope = { deviceId: `fleet-${String(i).padStart(7, "0")}`, prefix: null, profile: "device" };
  return {
    id: `t${i}`,
    hash,
    ...scope,
    usesTotal: 1,
    usesLeft: 0,
    createdAt: now,
    expiresAt: now + DAY,
    revokedAt: null,
  };
}

/**
 * Fills an empty registry through the port's bulk import (one unit of work, pages of 5,000): N devices
 * each with one certificate and one spent token, then an audit chain of M entries hashed as the product
 * hashes them (src/domain/audit-chain.ts), then one CRL state.
 */
export async function fillRegistry(registry: Registry, size: FillSize, now = Date.now()): Promise<void> {
  await registry.bulkImport(async (target) => {
    for (let start = 0; start < size.devices; start += BATCH) {
      const rows = Array.from({ length: Math.min(BATCH, size.devices - start) }, (_, k) => deviceAt(start + k, now));
      await target.insert(
        "devices",
        rows.map((r) => r.device),
      );
      await target.insert(
        "certificates",
        rows.map((r) => r.certificate),
      );
      await target.insert(
        "tokens",
        rows.map((_, k) => tokenAt(start + k, now)),
      );
    }
    let head = { seq: 0, hash: GENESIS_HASH };
    for (let start = 0; start < size.audit; start += BATCH) {
      const entries: AuditEntry[] = [];
      for (let k = 0; k < Math.min(BATCH, size.audit - start); k++) {
        const i = start + k;
        const subject = `fleet-${String(i % Math.max(1, size.devices)).padStart(7, "0")}`;
        const details = { serial: `b${i.toString(16)}` };
        const entry = nextEntry(head, { at: now + i, actor: "token:t1", action: "device.enrolled", subject, details });
        entries.push(entry);
        head = entry;
      }
      await target.insert("audit", entries);
    }
    await target.insert("crls", [{ issuer: "ca-1", number: 1234, thisUpdate: now, der: new Uint8Array([0x30, 0]) }]);
  });
}
