import { afterEach, beforeEach } from "vitest";
import { InProcessEventBus } from "../../../src/adapters/events/in-process-bus.js";
import { appendAudit } from "../../../src/app/audit-log.js";
import { insertActiveCertificate, supersede, type EnrollmentDeps } from "../../../src/app/deps.js";
import type { RevocationDeps } from "../../../src/app/revoke-device.js";
import { assertTokenUsable, hashToken, type TokenRecord } from "../../../src/domain/bootstrap-token.js";
import { assertDeviceMayEnroll } from "../../../src/domain/enrollment.js";
import { FleetgateError } from "../../../src/domain/errors.js";
import { createLogger } from "../../../src/logger.js";
import type { CertificateRecord, DeviceRecord, OperatorRecord, Registry, SignRequest } from "../../../src/ports.js";
import { FIXED_NOW } from "../../helpers/records.js";

/** Opens a fresh, empty registry; `cleanup` closes it and removes whatever it stored. */
export type OpenRegistry = () => Promise<{ registry: Registry; cleanup(): Promise<void> }>;

export const NOW = FIXED_NOW;
export const DAY = 86_400_000;
export const clock = { now: () => NOW };

/** A fresh registry for every test of the enclosing describe. */
export function useRegistry(open: OpenRegistry): { readonly registry: Registry } {
  let current: Awaited<ReturnType<OpenRegistry>> | undefined;
  beforeEach(async () => {
    current = await open();
  });
  afterEach(async () => {
    await current?.cleanup();
    current = undefined;
  });
  return {
    get registry(): Registry {
      if (current === undefined) throw new Error("no registry outside a test");
      return current.registry;
    },
  };
}

let counter = 0;
const next = () => ++counter;
/** A serial no other fixture of this process uses (lower-case hex, as the CA writes them). */
export const nextSerial = (): string => next().toString(16).padStart(32, "0");

export function device(id: string, overrides: Partial<DeviceRecord> = {}): DeviceRecord {
  const base = { role: "device", profile: "device", status: "active", createdAt: NOW } as const;
  return { id, ...base, revokedAt: null, revocationReason: null, lastSeenAt: null, ...overrides };
}

export function certificate(deviceId: string, overrides: Partial<CertificateRecord> = {}): CertificateRecord {
  const serial = overrides.serial ?? nextSerial();
  const validity = { notBefore: NOW - 300_000, notAfter: NOW + 90 * DAY, issuedAt: NOW };
  const base = { serial, deviceId, pem: `PEM-${serial}`, ...validity, status: "active", issuer: "ca-1" } as const;
  return { ...base, ...noRevocation, ...overrides };
}
const noRevocation = { revokedAt: null, revocationReason: null };

/** A usable single-device token for `deviceId` (or a group token when `prefix` is given). */
export function token(overrides: Partial<TokenRecord> = {}): TokenRecord {
  const id = overrides.id ?? `tok${next()}`;
  const scope = { deviceId: overrides.prefix ? null : "dev-1", prefix: null, profile: "device" };
  const uses = { usesTotal: 1, usesLeft: 1 };
  const times = { createdAt: NOW - 1000, expiresAt: NOW + 3_600_000, revokedAt: null };
  return { id, hash: hashToken(`plain-${id}`), ...scope, ...uses, ...times, ...overrides };
}

export function operator(name: string, overrides: Partial<OperatorRecord> = {}): OperatorRecord {
  const serial = overrides.serial ?? nextSerial();
  const facts = {
    status: "active",
    createdAt: NOW,
    notAfter: NOW + 365 * DAY,
    revokedAt: null,
    issuer: "ca-1",
  } as const;
  return { serial, name, pem: `PEM-${serial}`, ...facts, ...overrides };
}

/** Stores records directly, in one unit of work, without audit entries. */
export async function seed(
  registry: Registry,
  records: {
    tokens?: TokenRecord[];
    devices?: DeviceRecord[];
    certificates?: CertificateRecord[];
    operators?: OperatorRecord[];
  },
): Promise<void> {
  await registry.transact(async (tx) => {
    for (const t of records.tokens ?? []) await tx.insertToken(t);
    for (const d of records.devices ?? []) await tx.insertDevice(d);
    for (const c of records.certificates ?? []) await tx.insertCertificate(c);
    for (const o of records.operators ?? []) await tx.insertOperator(o);
  });
}

/** The refusal code of a rejected promise ("other: message" for a non-fleetgate error). */
export async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return error instanceof FleetgateError ? error.code : `other: ${(error as Error).message}`;
  }
  return "no error";
}

export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * The enrollment unit of work as src/app/enroll-device.ts writes it (spend one use of the locked
 * token, create or re-key the device, record the certificate, audit), for a certificate already "signed".
 */
export function enrollUnit(
  registry: Registry,
  tokenHash: string,
  cert: CertificateRecord,
  now = NOW,
): Promise<CertificateRecord> {
  return registry.transact(async (tx) => {
    const found = await tx.tokenByHash(tokenHash);
    assertTokenUsable(found, now);
    const existing = await tx.device(cert.deviceId);
    assertDeviceMayEnroll(found, existing);
    await tx.updateToken(found.id, { usesLeft: found.usesLeft - 1 });
    if (existing === undefined) await tx.insertDevice(device(cert.deviceId, { createdAt: now }));
    for (const old of existing ? await tx.certificatesOf(cert.deviceId) : [])
      if (old.status === "active") await supersede(tx, old, now);
    await insertActiveCertificate(tx, cert, now);
    const details = { serial: cert.serial };
    await appendAudit(
      tx,
      { actor: `token:${found.id}`, action: "device.enrolled", subject: cert.deviceId, details },
      now,
    );
    return cert;
  });
}

export function revocationDeps(registry: Registry): RevocationDeps {
  return { registry, bus: new InProcessEventBus(createLogger("silent"), "node-1"), clock };
}

/**
 * The enrollment use cases with everything but the registry faked: a "CSR" is the bytes of its CN, and
 * `onSign` runs while the certificate is being signed (between the first judgement and the unit of work).
 */
export function enrollmentDeps(registry: Registry, onSign?: (request: SignRequest) => Promise<void>): EnrollmentDeps {
  return {
    registry,
    clock,
    profiles: new Map([["device", { name: "device", role: "device", lifetimeMs: 90 * DAY }]]),
    allowedKeys: ["ec:P-256"],
    decodeCsr: async (der) => ({
      facts: { signatureValid: true, commonNames: [Buffer.from(der).toString()], key: ecKey, requestsCa: false },
      publicKeySpki: new Uint8Array(der),
    }),
    signer: {
      issuingCaPem: "ISSUING",
      rootCaPem: "ROOT",
      caCertificatesPem: ["ISSUING", "ROOT"],
      sign: async (request) => {
        await onSign?.(request);
        const serial = nextSerial();
        const validity = { notBefore: request.now - 300_000, notAfter: request.now + request.lifetimeMs };
        const issuer = { issuer: "ca-1", issuerPem: "ISSUING" };
        return { serial, pem: `PEM-${serial}`, der: new Uint8Array([1, 2, 3]), ...validity, ...issuer };
      },
    },
  };
}
const ecKey = { type: "EC", curve: "P-256" } as const;

export const csrFor = (cn: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(cn));
