import type { FastifyInstance, FastifySchema } from "fastify";
import { z } from "zod";
import { MIN_P12_PASSWORD_LENGTH } from "../shared/pkcs12.js";
import { AuditQuery, ExplainQuery } from "./admin-audit.routes.js";
import { DeviceQuery, RevokeBody } from "./admin-device.routes.js";
import { OperatorBody } from "./admin-operator.routes.js";
import { IdParam, TokenBody } from "./admin-token.routes.js";

/**
 * JSON schemas of the admin API, made from the same zod schemas the routes parse with (zod stays the
 * one validator: fastify's own validation and response serialization are switched off below, so a
 * schema here documents and never changes behaviour). @fastify/swagger turns them into /v1/openapi.json.
 */
export function jsonSchema(schema: z.ZodType, io: "input" | "output" = "output"): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: "openapi-3.0", io, unrepresentable: "any" });
  return rest;
}

const Instant = z.string().describe("ISO 8601 instant");
export const ErrorBody = z.object({
  code: z.string().describe("stable error code (README: Error codes)"),
  message: z.string(),
  detail: z.string().optional().describe("what exactly was wrong; only to an authenticated operator"),
});
const LiveSession = z.object({
  deviceId: z.string(),
  serial: z.string(),
  address: z.string().nullable(),
  connectedAt: Instant,
  node: z.string(),
});
const Certificate = z.object({
  serial: z.string(),
  deviceId: z.string(),
  pem: z.string(),
  notBefore: Instant,
  notAfter: Instant,
  status: z.enum(["active", "revoked", "superseded"]),
  issuedAt: Instant,
  revokedAt: Instant.nullable(),
  revocationReason: z.string().nullable(),
});
const DeviceView = z.object({
  id: z.string(),
  role: z.string(),
  profile: z.string(),
  status: z.enum(["active", "revoked"]),
  createdAt: Instant,
  revokedAt: Instant.nullable(),
  revocationReason: z.string().nullable(),
  lastSeenAt: Instant.nullable(),
  certificateNotAfter: Instant.nullable(),
  online: z.boolean(),
  sessions: z.array(LiveSession),
  certificateExpiresIn: z.number().nullable().describe("ms until the active certificate expires"),
});
const Token = z.object({
  id: z.string(),
  deviceId: z.string().nullable(),
  prefix: z.string().nullable(),
  profile: z.string(),
  usesTotal: z.number(),
  usesLeft: z.number(),
  createdAt: Instant,
  expiresAt: Instant,
  revokedAt: Instant.nullable(),
  state: z.enum(["active", "expired", "used", "revoked"]),
});
const AuditEntry = z.object({
  seq: z.number(),
  at: Instant,
  actor: z.string(),
  action: z.string(),
  subject: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  prevHash: z.string(),
  hash: z.string(),
});
const Operator = z.object({
  serial: z.string(),
  name: z.string(),
  status: z.enum(["active", "revoked"]),
  createdAt: Instant,
  notAfter: Instant,
  revokedAt: Instant.nullable(),
});
const Counts = z.record(z.string(), z.number());
export const Overview = z.object({
  at: Instant,
  devices: z.object({ total: z.number(), active: z.number(), revoked: z.number(), online: z.number() }),
  certificatesExpiring: z.object({ within7d: z.number(), within30d: z.number() }),
  activity: z.object({
    stepMs: z.number(),
    windowMs: z.number(),
    points: z.array(
      z.object({
        at: Instant,
        rates: z.object({ enrollments: z.number(), messagesIn: z.number(), messagesOut: z.number() }),
      }),
    ),
  }),
  refusals: z.object({
    handshakeFailures: Counts,
    mqttRefusals: Counts,
    mqttDenials: Counts,
    httpRefusals: Counts,
  }),
});
export const Profile = z.object({ name: z.string(), role: z.string(), lifetimeMs: z.number() });
export const P12Body = z.strictObject({
  name: z.string().min(1).max(64),
  password: z.string().min(MIN_P12_PASSWORD_LENGTH, `at least ${MIN_P12_PASSWORD_LENGTH} characters`).max(1024),
});

const errors = { "4xx": jsonSchema(ErrorBody) };
const ok = (schema: z.ZodType, code = 200) => ({ response: { [code]: jsonSchema(schema), ...errors } });
const id = { params: jsonSchema(IdParam, "input") };

const tag = (name: string, summary: string, schema: FastifySchema = {}): FastifySchema => ({
  tags: [name],
  summary,
  ...schema,
});

/** The routes that existed before the console, by "METHOD url". */
const EXISTING: Readonly<Record<string, FastifySchema>> = {
  "POST /v1/tokens": tag("tokens", "Create a bootstrap token (the secret is in this answer only)", {
    body: jsonSchema(TokenBody, "input"),
    ...ok(
      Token.omit({ usesTotal: true, createdAt: true, revokedAt: true, state: true }).extend({ token: z.string() }),
      201,
    ),
  }),
  "GET /v1/tokens": tag("tokens", "List tokens (never the secret)", ok(z.array(Token))),
  "POST /v1/tokens/:id/revoke": tag("tokens", "Revoke a token", {
    ...id,
    ...ok(z.object({ id: z.string(), revoked: z.boolean() })),
  }),
  "GET /v1/devices": tag("devices", "List devices (cursor in x-next-cursor)", {
    querystring: jsonSchema(DeviceQuery, "input"),
    ...ok(z.array(DeviceView)),
  }),
  "GET /v1/devices/:id": tag("devices", "One device with certificates and live sessions", {
    ...id,
    ...ok(DeviceView.extend({ certificates: z.array(Certificate) })),
  }),
  "POST /v1/devices/:id/revoke": tag("devices", "Revoke a device: durable first, then live sessions closed", {
    ...id,
    body: jsonSchema(RevokeBody, "input"),
    ...ok(
      z.object({
        deviceId: z.string(),
        reason: z.string(),
        serials: z.array(z.string()),
        alreadyRevoked: z.boolean(),
        sessionsClosed: z.number(),
        sessionsClosedByNode: Counts,
      }),
    ),
  }),
  "POST /v1/devices/:id/reset": tag("devices", "Reset a revoked device so it may enroll again", {
    ...id,
    ...ok(z.object({ deviceId: z.string(), reset: z.boolean() })),
  }),
  "GET /v1/audit": tag("audit", "Audit entries after a sequence number", {
    querystring: jsonSchema(AuditQuery, "input"),
    ...ok(z.array(AuditEntry)),
  }),
  "GET /v1/audit/verify": tag(
    "audit",
    "Verify every hash link of the audit log",
    ok(
      z.object({
        ok: z.boolean(),
        entries: z.number(),
        break: z.object({ seq: z.number(), problem: z.string() }).nullable(),
      }),
    ),
  ),
  "GET /v1/acl/explain": tag("acl", "May a device publish or subscribe here, and which rule decides", {
    querystring: jsonSchema(ExplainQuery, "input"),
    ...ok(z.object({ allowed: z.boolean(), explanation: z.string() })),
  }),
  "GET /v1/operators": tag("operators", "List operators", ok(z.array(Operator))),
  "POST /v1/operators": tag("operators", "Add an operator from a CSR (the key stays with the client)", {
    body: jsonSchema(OperatorBody, "input"),
    ...ok(z.object({ name: z.string(), serial: z.string(), certificate: z.string(), notAfter: Instant }), 201),
  }),
  "POST /v1/operators/:id/revoke": tag("operators", "Revoke an operator (never the last one)", {
    ...id,
    ...ok(z.object({ name: z.string(), revoked: z.number() })),
  }),
};

export const OVERVIEW_SCHEMA = tag("console", "Fleet counts, 15-minute rates, refusals by reason", ok(Overview));
export const PROFILES_SCHEMA = tag("console", "Configured certificate profiles", ok(z.array(Profile)));
export const WHOAMI_SCHEMA = tag(
  "console",
  "The operator this request authenticated as",
  ok(z.object({ operator: z.string() })),
);
export const EVENTS_SCHEMA = tag("console", "Fleet events as Server-Sent Events (text/event-stream)");
export const P12_SCHEMA = tag("operators", "Add an operator; the answer is its PKCS#12 (application/x-pkcs12)", {
  body: jsonSchema(P12Body, "input"),
  response: { 201: { type: "string", format: "binary" }, ...errors },
});

/** Must run before any route is registered (onRoute sees only what comes after it). */
export function installApiSchemas(app: FastifyInstance): void {
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.addHook("onRoute", (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const schema = methods.map((m) => EXISTING[`${m} ${route.url}`]).find((s) => s !== undefined);
    if (schema !== undefined && route.schema === undefined) route.schema = schema;
  });
}
