import fastify, { type FastifyInstance } from "fastify";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import { installErrorHandling } from "./errors.js";

export interface HealthSource {
  /** Throws when a dependency (the registry) cannot answer. */
  check(): Record<string, unknown>;
}

/** Plain HTTP for Prometheus (`GET /metrics`) and liveness probes (`GET /healthz`); bind it to loopback. */
export function createMetricsServer(metrics: Metrics, health: HealthSource, logger: Logger): FastifyInstance {
  const app = fastify({ logger: false });
  installErrorHandling(app, "metrics", logger, metrics);
  app.get("/metrics", async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  app.get("/healthz", async (_request, reply) => {
    try {
      return reply.send({ status: "ok", ...health.check() });
    } catch (error) {
      logger.error({ service: "metrics", err: error }, "health check failed");
      return reply.code(503).send({ status: "unavailable" });
    }
  });
  return app;
}
