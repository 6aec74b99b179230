import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { listDeviceViews, showDevice } from "../../app/device-views.js";
import { resetDevice, revokeDevice } from "../../app/revoke-device.js";
import { isValidDevicePrefix } from "../../domain/device-id.js";
import { parseDuration } from "../../domain/duration.js";
import { FleetgateError } from "../../domain/errors.js";
import { actorOf, parse, render, type AdminContext } from "./admin-context.js";
import { durationString, IdParam } from "./admin-token.routes.js";

export const PAGE_LIMIT = { default: 500, max: 1000 } as const;

export const DeviceQuery = z.strictObject({
  status: z.enum(["active", "revoked"]).optional(),
  online: z.enum(["true", "false"]).optional(),
  expiring: durationString.optional(),
  prefix: z.string().refine(isValidDevicePrefix, "expected 1-63 characters of [A-Za-z0-9._-]").optional(),
  after: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(PAGE_LIMIT.max).default(PAGE_LIMIT.default),
});
export const RevokeBody = z.strictObject({ reason: z.string().default("unspecified") });

/**
 * Devices: paginated listing (cursor = the last id of a page, in `x-next-cursor` and a Link header),
 * one device with certificates and live sessions, revoke, reset.
 */
export const deviceRoutes: FastifyPluginAsync<AdminContext> = async (app, context) => {
  const deps = { registry: context.enrollment.registry, sessions: context.sessions, clock: context.enrollment.clock };
  app.get("/v1/devices", async (request, reply) => {
    const query = parse(DeviceQuery, request.query);
    const page = await listDeviceViews(deps, {
      limit: query.limit,
      ...(query.after === undefined ? {} : { after: query.after }),
      ...(query.status === undefined ? {} : { status: query.status }),
      ...(query.prefix === undefined ? {} : { prefix: query.prefix }),
      ...(query.online === undefined ? {} : { online: query.online === "true" }),
      ...(query.expiring === undefined ? {} : { expiringWithinMs: parseDuration(query.expiring)! }),
    });
    if (page.next !== null) {
      const next = new URLSearchParams({ ...(request.query as Record<string, string>), after: page.next });
      void reply.header("x-next-cursor", page.next).header("link", `</v1/devices?${next}>; rel="next"`);
    }
    return render(page.items);
  });
  app.get("/v1/devices/:id", async (request) => {
    const { id } = parse(IdParam, request.params);
    const device = await showDevice(deps, id);
    if (device === undefined) throw new FleetgateError("not_found", `no device ${id}`);
    return render(device);
  });
  app.post("/v1/devices/:id/revoke", async (request) => {
    const { id } = parse(IdParam, request.params);
    const { reason } = parse(RevokeBody, request.body);
    return revokeDevice(context.revocation, id, reason, actorOf(request));
  });
  app.post("/v1/devices/:id/reset", async (request) => {
    const { id } = parse(IdParam, request.params);
    const reset = await resetDevice(context.revocation, id, actorOf(request));
    return { deviceId: id, reset };
  });
};
