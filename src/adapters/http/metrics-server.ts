import fastify, { type FastifyInstance } from "fastify";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import { installErrorHandling, type ErrorPaths } from "./errors.js";
import { capConnections, httpListenerOptions, type ListenerLimits } from "./listener-limits.js";

export interface HealthSource {
  check(): Promise<{ readonly healthy: boolean; readonly checks: Readonly<Record<string, unknown>> }>;
}

/** Plain HTTP for Prometheus (`GET /metrics`) and liveness probes (`GET /healthz`); bind it to loopback. */
export function createMetricsServer(
  metrics: Metrics,
  health: HealthSource,
  logger: Logger,
  limits: ListenerLimits,
): FastifyInstance {
  const paths: ErrorPaths = { service: "metrics", logger, metrics };
  const app = fastify(httpListenerOptions(limits, paths));
  capConnections(app.server, limits, paths);
  installErrorHandling(app, paths);
  app.get("/metrics", async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  app.get("/healthz", async (_request, reply) => {
    try {
      const report = await health.check();
      if (!report.healthy) logger.error({ service: "metrics", checks: report.checks }, "health check failed");
      return reply
        .code(report.healthy ? 200 : 503)
        .send({ status: report.healthy ? "ok" : "unavailable", ...report.checks });
    } catch (error) {
      logger.error({ service: "metrics", err: error }, "health check failed");
      return reply.code(503).send({ status: "unavailable" });
    }
  });
  return app;
}
