import type { FastifyRequest } from "fastify";
import { z } from "zod";
import type { EnrollmentDeps } from "../../app/deps.js";
import type { ActivitySeries } from "../../app/fleet-overview.js";
import type { RevocationDeps } from "../../app/revoke-device.js";
import type { AclConfig } from "../../domain/acl.js";
import { FleetgateError } from "../../domain/errors.js";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import type { Notaries, PkiControl, SessionDirectory } from "../../ports.js";

/**
 * What the admin listener's plugins share. Imports no other http module, so the server and every
 * route plugin can depend on it without a cycle.
 */
export interface AdminContext {
  /** This node's id (its name in the cluster). */
  readonly nodeId: string;
  readonly enrollment: EnrollmentDeps;
  readonly revocation: RevocationDeps;
  readonly sessions: SessionDirectory;
  readonly acl: AclConfig;
  /** Signs audit checkpoints with the active issuing CA; verifies them with any trusted one. */
  readonly notaries: Notaries;
  /** The issuing CAs and server certificate of this server (issuing-CA rollover, certificate reload). */
  readonly pki: PkiControl;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Enrollments and messages per second over the last minutes (the console's overview). */
  readonly activity: ActivitySeries;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The operator the request authenticated as (set by the admin listener's onRequest hook). */
    operator: string | null;
  }
}

/** `operator:<name>`: how the audit log names what an operator did. */
export function actorOf(request: FastifyRequest): string {
  return `operator:${request.operator ?? "unknown"}`;
}

/** Parses a body, query or params object; a mismatch is malformed_request naming the fields. */
export function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    const detail = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new FleetgateError("malformed_request", detail);
  }
  return result.data;
}

/** ISO 8601 for every instant the admin API returns (the registry keeps epoch milliseconds). */
export function iso(ms: number): string;
export function iso(ms: number | null): string | null;
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

const INSTANT_FIELDS = new Set([
  "createdAt",
  "expiresAt",
  "revokedAt",
  "lastSeenAt",
  "notBefore",
  "notAfter",
  "issuedAt",
  "connectedAt",
  "certificateNotAfter",
  "at",
  "lastNotAfter",
]);

/** A record with every instant field (epoch ms) rendered as ISO 8601, nested arrays and objects too. */
export function render<T>(value: T): unknown {
  if (Array.isArray(value)) return value.map(render);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, field]) => [
      key,
      INSTANT_FIELDS.has(key) && typeof field === "number" ? iso(field) : key === "details" ? field : render(field),
    ]),
  );
}
