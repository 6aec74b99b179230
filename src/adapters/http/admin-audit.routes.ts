import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { verifyAudit } from "../../app/audit-log.js";
import { explainAcl } from "../../domain/acl.js";
import { FleetgateError } from "../../domain/errors.js";
import { parse, render, type AdminContext } from "./admin-context.js";

export const AuditQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
  subject: z.string().min(1).max(128).optional(),
});
export const ExplainQuery = z.strictObject({
  device: z.string().min(1),
  action: z.enum(["publish", "subscribe"]),
  topic: z.string().min(1),
  role: z.string().optional(),
});

/** The audit log (paginated by seq, verified page by page) and ACL explanations. */
export const auditRoutes: FastifyPluginAsync<AdminContext> = async (app, context) => {
  const { registry } = context.enrollment;
  app.get("/v1/audit", async (request) => {
    const { after, limit, subject } = parse(AuditQuery, request.query);
    return render(await registry.listAudit({ afterSeq: after, limit, ...(subject === undefined ? {} : { subject }) }));
  });
  app.get("/v1/audit/verify", async () => {
    const result = await verifyAudit(registry);
    return { ok: result.ok, entries: result.entries, break: result.break };
  });
  app.get("/v1/acl/explain", async (request) => {
    const query = parse(ExplainQuery, request.query);
    const role = query.role ?? (await registry.getDevice(query.device))?.role;
    if (role === undefined) throw new FleetgateError("not_found", `no device ${query.device}`);
    const line = explainAcl(context.acl, role, query.device, query.action, query.topic);
    return { allowed: line.startsWith("ALLOW"), explanation: line };
  });
};
