import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { addOperator } from "../../app/add-operator.js";
import { issueToken, TokenRequestError } from "../../app/issue-token.js";
import { resetDevice, revokeDevice } from "../../app/revoke-device.js";
import { explainAcl } from "../../domain/acl.js";
import { findChainBreak } from "../../domain/audit-chain.js";
import { tokenState } from "../../domain/bootstrap-token.js";
import { parseDuration } from "../../domain/duration.js";
import { FleetgateError } from "../../domain/errors.js";
import type { DeviceRecord } from "../../ports.js";
import { strictBase64 } from "../ca/pem.js";
import { operatorOf, type AdminContext } from "./admin-server.js";

function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value ?? {});
  if (!result.success)
    throw new FleetgateError(
      "malformed_request",
      result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
    );
  return result.data;
}

// A bare number would be milliseconds (config-file style): `--ttl 3` must not mint a 3 ms token.
const durationString = z
  .string()
  .refine(
    (s) => /[a-z]$/.test(s.trim()) && parseDuration(s) !== null,
    "expected a duration with a unit, like 30m, 24h or 7d",
  );
const TokenBody = z.strictObject({
  deviceId: z.string().optional(),
  prefix: z.string().optional(),
  uses: z.number().int().positive().optional(),
  ttl: durationString.default("24h"),
  profile: z.string().default("device"),
});
const DeviceQuery = z.strictObject({
  status: z.enum(["active", "revoked"]).optional(),
  online: z.enum(["true", "false"]).optional(),
  expiring: durationString.optional(),
});
const IdParam = z.strictObject({ id: z.string().min(1).max(64) });
const RevokeBody = z.strictObject({ reason: z.string().default("unspecified") });
const AuditQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
});
const ExplainQuery = z.strictObject({
  device: z.string().min(1),
  action: z.enum(["publish", "subscribe"]),
  topic: z.string().min(1),
  role: z.string().optional(),
});
const OperatorBody = z.strictObject({ name: z.string().min(1).max(64), csr: z.string().min(1).max(16_384) });

export function registerAdminRoutes(app: FastifyInstance, context: AdminContext): void {
  registerTokenRoutes(app, context);
  registerDeviceRoutes(app, context);
  registerAuditRoutes(app, context);
  registerOperatorRoutes(app, context);
}

function registerTokenRoutes(app: FastifyInstance, context: AdminContext): void {
  const { registry, clock } = context.enrollment;
  app.post("/v1/tokens", async (request, reply) => {
    const body = parse(TokenBody, request.body);
    const profiles = new Set(context.enrollment.profiles.keys());
    const request_ = { ...body, ttlMs: parseDuration(body.ttl)!, actor: `operator:${operatorOf(request)}` };
    const issued = await issueToken({ registry, clock, profiles }, request_).catch((error: unknown) => {
      throw error instanceof TokenRequestError ? new FleetgateError("malformed_request", error.message) : error;
    });
    const { record } = issued;
    return reply
      .code(201)
      .send({
        token: issued.token,
        id: record.id,
        deviceId: record.deviceId,
        prefix: record.prefix,
        profile: record.profile,
        usesLeft: record.usesLeft,
        expiresAt: new Date(record.expiresAt).toISOString(),
      });
  });
  app.get("/v1/tokens", async () => {
    const now = clock.now();
    return (await registry.listTokens()).map(({ hash: _hash, ...token }) => ({
      ...token,
      state: tokenState({ hash: _hash, ...token }, now),
    }));
  });
  app.post("/v1/tokens/:id/revoke", async (request) => {
    const { id } = parse(IdParam, request.params);
    const at = clock.now();
    const revoked = await registry.revokeToken(id, at, {
      actor: `operator:${operatorOf(request)}`,
      action: "token.revoked",
      subject: id,
      details: {},
    });
    if (!revoked) throw new FleetgateError("not_found", `no active token ${id}`);
    return { id, revoked: true };
  });
}

async function deviceView(context: AdminContext, device: DeviceRecord, now: number) {
  const certificates = await context.enrollment.registry.listCertificates(device.id);
  const active = certificates.filter((c) => c.status === "active");
  const sessions = context.sessions
    .sessionsOf(device.id)
    .map((s) => ({
      connectedAt: new Date(s.connectedAt).toISOString(),
      address: s.address ?? null,
      serial: s.identity.serial,
    }));
  const notAfter = active.length ? Math.max(...active.map((c) => c.notAfter)) : null;
  return {
    ...device,
    online: sessions.length > 0,
    sessions,
    certificateExpiresIn: notAfter === null ? null : notAfter - now,
    certificates,
  };
}

function registerDeviceRoutes(app: FastifyInstance, context: AdminContext): void {
  const { registry, clock } = context.enrollment;
  app.get("/v1/devices", async (request) => {
    const query = parse(DeviceQuery, request.query);
    const now = clock.now();
    const views = await Promise.all((await registry.listDevices()).map((d) => deviceView(context, d, now)));
    const horizon = query.expiring ? parseDuration(query.expiring)! : null;
    return views
      .filter((v) => !query.status || v.status === query.status)
      .filter((v) => !query.online || v.online === (query.online === "true"))
      .filter((v) => horizon === null || (v.certificateExpiresIn !== null && v.certificateExpiresIn <= horizon))
      .map(({ certificates: _c, ...view }) => view);
  });
  app.get("/v1/devices/:id", async (request) => {
    const { id } = parse(IdParam, request.params);
    const device = await registry.getDevice(id);
    if (!device) throw new FleetgateError("not_found", `no device ${id}`);
    return deviceView(context, device, clock.now());
  });
  app.post("/v1/devices/:id/revoke", async (request) => {
    const { id } = parse(IdParam, request.params);
    const { reason } = parse(RevokeBody, request.body);
    const sessions = context.sessions.liveSessions(id);
    const result = await revokeDevice(context.revocation, id, reason, `operator:${operatorOf(request)}`);
    return { ...result, sessionsClosed: sessions };
  });
  app.post("/v1/devices/:id/reset", async (request) => {
    const { id } = parse(IdParam, request.params);
    const reset = await resetDevice(context.revocation, id, `operator:${operatorOf(request)}`);
    return { deviceId: id, reset };
  });
}

function registerAuditRoutes(app: FastifyInstance, context: AdminContext): void {
  const { registry } = context.enrollment;
  app.get("/v1/audit", async (request) => {
    const query = parse(AuditQuery, request.query);
    return registry.listAudit({ afterSeq: query.after, limit: query.limit });
  });
  app.get("/v1/audit/verify", async () => {
    const entries = await registry.listAudit();
    const broken = findChainBreak(entries);
    return { ok: broken === null, entries: entries.length, break: broken };
  });
  app.get("/v1/acl/explain", async (request) => {
    const query = parse(ExplainQuery, request.query);
    const role = query.role ?? (await registry.getDevice(query.device))?.role;
    if (role === undefined) throw new FleetgateError("not_found", `no device ${query.device}`);
    const line = explainAcl(context.acl, role, query.device, query.action, query.topic);
    return { allowed: line.startsWith("ALLOW"), explanation: line };
  });
}

/**
 * The admin API is the only way in, and `fleetgate init` refuses an initialized data dir: revoking
 * the last active operator would lock every operator out for good, so it is refused.
 */
async function refuseLastOperator(context: AdminContext, name: string): Promise<void> {
  const active = new Set(
    (await context.enrollment.registry.listOperators()).filter((o) => o.status === "active").map((o) => o.name),
  );
  if (active.size === 1 && active.has(name)) {
    throw new FleetgateError(
      "malformed_request",
      `${name} is the last active operator; add another (fleetgate operator add NAME) before revoking it`,
    );
  }
}

function registerOperatorRoutes(app: FastifyInstance, context: AdminContext): void {
  const { registry, clock } = context.enrollment;
  app.get("/v1/operators", async () => (await registry.listOperators()).map(({ pem: _pem, ...operator }) => operator));
  app.post("/v1/operators", async (request: FastifyRequest, reply) => {
    const body = parse(OperatorBody, request.body);
    const der = strictBase64(body.csr);
    if (der === null) throw new FleetgateError("malformed_csr", "csr is not base64 DER");
    const csr = await context.enrollment.decodeCsr(der);
    const operator = await addOperator(context.enrollment, body.name, csr, `operator:${operatorOf(request)}`);
    return reply
      .code(201)
      .send({
        name: operator.name,
        serial: operator.serial,
        certificate: operator.pem,
        notAfter: new Date(operator.notAfter).toISOString(),
      });
  });
  app.post("/v1/operators/:id/revoke", async (request) => {
    const { id } = parse(IdParam, request.params);
    await refuseLastOperator(context, id);
    const count = await registry.revokeOperator(id, clock.now(), {
      actor: `operator:${operatorOf(request)}`,
      action: "operator.revoked",
      subject: id,
      details: {},
    });
    if (count === 0) throw new FleetgateError("not_found", `no active operator ${id}`);
    return { name: id, revoked: count };
  });
}
