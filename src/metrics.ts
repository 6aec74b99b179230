import { Counter, Histogram, Registry } from "prom-client";

/** Every Prometheus metric fleetgate exports, on one registry (served at GET /metrics). */
export class Metrics {
  readonly registry = new Registry();

  readonly enrollments = new Counter({
    name: "fleetgate_enrollments_total",
    help: "Enrollment and re-enrollment requests by method and outcome (ok or an error code).",
    labelNames: ["method", "outcome"] as const,
    registers: [this.registry],
  });

  readonly enrollmentSeconds = new Histogram({
    name: "fleetgate_enrollment_duration_seconds",
    help: "Time to answer an enrollment request, from body received to response.",
    labelNames: ["method"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  readonly httpRefusals = new Counter({
    name: "fleetgate_http_refusals_total",
    help: "HTTP requests refused before reaching a use case, by listener and error code.",
    labelNames: ["service", "code"] as const,
    registers: [this.registry],
  });
}
