import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { describePki, reloadPki, retireIssuingCa } from "../../app/issuing-cas.js";
import { actorOf, parse, render, type AdminContext } from "./admin-context.js";

const CaParam = z.strictObject({ id: z.string().min(1).max(32) });
const RetireBody = z.strictObject({ force: z.boolean().default(false) });

/**
 * The PKI of the running server: its issuing CAs and server certificate (`fleetgate ca list`), a reload
 * of pki/ after the CLI changed it (`ca activate`, `server-cert renew`), and retiring a CA.
 */
export const pkiRoutes: FastifyPluginAsync<AdminContext> = async (app, context) => {
  const announce = { bus: context.revocation.bus, nodeId: context.nodeId };
  const deps = () => ({
    registry: context.enrollment.registry,
    clock: context.enrollment.clock,
    pki: context.pki,
    announce,
  });
  app.get("/v1/pki", async () => render(await describePki(deps())));
  app.post("/v1/pki/reload", async (request) => render(await reloadPki(deps(), actorOf(request))));
  app.post("/v1/pki/cas/:id/retire", async (request) => {
    const { id } = parse(CaParam, request.params);
    const { force } = parse(RetireBody, request.body);
    return render(await retireIssuingCa(deps(), id, force, actorOf(request)));
  });
};
