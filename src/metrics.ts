import { Counter, Gauge, Histogram, Registry } from "prom-client";

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

  readonly mqttConnections = new Gauge({
    name: "fleetgate_mqtt_connections",
    help: "Open MQTT connections (TCP accepted, including those still in the TLS handshake).",
    registers: [this.registry],
  });

  readonly mqttSessions = new Gauge({
    name: "fleetgate_mqtt_sessions",
    help: "Admitted MQTT sessions currently connected.",
    registers: [this.registry],
  });

  readonly mqttHandshakeFailures = new Counter({
    name: "fleetgate_mqtt_handshake_failures_total",
    help: "TLS handshakes that failed, by reason (e.g. no_certificate, unknown_ca, expired, timeout).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  readonly mqttRefusals = new Counter({
    name: "fleetgate_mqtt_refusals_total",
    help: "CONNECTs refused after the TLS handshake, by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  readonly mqttDenials = new Counter({
    name: "fleetgate_mqtt_denials_total",
    help: "Packets or connections denied by permission or limit, by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  readonly mqttMessagesIn = new Counter({
    name: "fleetgate_mqtt_messages_in_total",
    help: "PUBLISH packets accepted from clients.",
    registers: [this.registry],
  });

  readonly mqttMessagesOut = new Counter({
    name: "fleetgate_mqtt_messages_out_total",
    help: "PUBLISH packets forwarded to subscribers.",
    registers: [this.registry],
  });

  readonly mqttKicks = new Counter({
    name: "fleetgate_mqtt_kicks_total",
    help: "Live sessions closed by the session kicker (revocation).",
    registers: [this.registry],
  });

  /** Collected at scrape time from the registry, so the figure is never stale. */
  watchExpiry(countExpiringBefore: (before: number) => Promise<number>, windows: Readonly<Record<string, number>> = { "7d": 7 * 86_400_000, "30d": 30 * 86_400_000 }): void {
    new Gauge({
      name: "fleetgate_certificates_expiring",
      help: "Active certificates expiring within the window (label within: 7d, 30d).",
      labelNames: ["within"] as const,
      registers: [this.registry],
      async collect() {
        const now = Date.now();
        for (const [label, ms] of Object.entries(windows)) this.set({ within: label }, await countExpiringBefore(now + ms));
      },
    });
  }
}
