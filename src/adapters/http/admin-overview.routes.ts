import type { FastifyPluginAsync } from "fastify";
import { fleetOverview } from "../../app/fleet-overview.js";
import { refusalCounts } from "../../metrics-totals.js";
import { render, type AdminContext } from "./admin-context.js";
import { OVERVIEW_SCHEMA, PROFILES_SCHEMA, WHOAMI_SCHEMA } from "./admin-schemas.js";

/** What the console shows before any search: fleet counts and rates, the configured profiles, who is asking. */
export const overviewRoutes: FastifyPluginAsync<AdminContext> = async (app, context) => {
  const { registry, clock, profiles } = context.enrollment;
  app.get("/v1/overview", { schema: OVERVIEW_SCHEMA }, async () =>
    render(
      await fleetOverview({
        registry,
        clock,
        sessions: context.sessions,
        activity: context.activity,
        refusals: () => refusalCounts(context.metrics),
      }),
    ),
  );
  app.get("/v1/profiles", { schema: PROFILES_SCHEMA }, async () =>
    [...profiles.values()].map(({ name, role, lifetimeMs }) => ({ name, role, lifetimeMs })),
  );
  app.get("/v1/whoami", { schema: WHOAMI_SCHEMA }, async (request) => ({ operator: request.operator }));
};
