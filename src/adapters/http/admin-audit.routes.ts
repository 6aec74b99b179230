import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { takeCheckpoint, verifyCheckpoint } from "../../app/audit-checkpoint.js";
import { verifyAudit } from "../../app/audit-log.js";
import { explainAcl } from "../../domain/acl.js";
import { CHECKPOINT_FORMAT } from "../../domain/audit-checkpoint.js";
import { FleetgateError } from "../../domain/errors.js";
import { actorOf, parse, render, type AdminContext } from "./admin-context.js";

export const AuditQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
  subject: z.string().min(1).max(128).optional(),
});
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, "expected 64 lowercase hex digits");
/** What `POST /v1/audit/checkpoint` returned, as the operator kept it. */
const CheckpointBody = z.strictObject({
  statement: z.strictObject({
    format: z.literal(CHECKPOINT_FORMAT),
    seq: z.number().int().min(0),
    hash: hex64,
    at: z.iso.datetime(),
    issuer: hex64,
  }),
  signature: z.strictObject({
    algorithm: z.string().min(1).max(64),
    value: z.base64().min(1).max(1024),
  }),
});
export const ExplainQuery = z.strictObject({
  device: z.string().min(1),
  action: z.enum(["publish", "subscribe"]),
  topic: z.string().min(1),
  role: z.string().optional(),
});

/** The audit log (paginated by seq, verified page by page) and ACL explanations. */
export const auditRoutes: FastifyPluginAsync<AdminContext> = async (app, context) => {
  const { registry, clock } = context.enrollment;
  app.get("/v1/audit", async (request) => {
    const { after, limit, subject } = parse(AuditQuery, request.query);
    return render(await registry.listAudit({ afterSeq: after, limit, ...(subject === undefined ? {} : { subject }) }));
  });
  app.get("/v1/audit/verify", async () => {
    const result = await verifyAudit(registry);
    return { ok: result.ok, entries: result.entries, break: result.break };
  });
  // A signed statement of the log's head, to keep outside this server (README "Audit checkpoints").
  app.post("/v1/audit/checkpoint", async (request, reply) => {
    const checkpoint = await takeCheckpoint({ registry, notaries: context.notaries, clock }, actorOf(request));
    return reply.code(201).send(checkpoint);
  });
  // The checkpoint travels in the body: a ~500-byte document, not a query string for every log to keep.
  app.post("/v1/audit/verify", async (request) => {
    const checkpoint = parse(CheckpointBody, request.body);
    return verifyCheckpoint({ registry, notaries: context.notaries }, checkpoint);
  });
  app.get("/v1/acl/explain", async (request) => {
    const query = parse(ExplainQuery, request.query);
    const role = query.role ?? (await registry.getDevice(query.device))?.role;
    if (role === undefined) throw new FleetgateError("not_found", `no device ${query.device}`);
    const line = explainAcl(context.acl, role, query.device, query.action, query.topic);
    return { allowed: line.startsWith("ALLOW"), explanation: line };
  });
};
