import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Every Prometheus metric fleetgate exports, on one registry (served at GET /metrics). */
export class Metrics {
  readonly registry = new Registry();

  readonly enrollments = this.counter(
    "fleetgate_enrollments_total",
    "Enrollment and re-enrollment requests by method and outcome (ok or an error code).",
    ["method", "outcome"],
  );

  readonly enrollmentSeconds = new Histogram({
    name: "fleetgate_enrollment_duration_seconds",
    help: "Time to answer an enrollment request, from body received to response.",
    labelNames: ["method"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  readonly httpRefusals = this.counter(
    "fleetgate_http_refusals_total",
    "HTTP requests refused before reaching a use case, by listener and error code.",
    ["service", "code"],
  );
  readonly httpConnectionsClosed = this.counter(
    "fleetgate_http_connections_closed_total",
    "HTTP(S) connections the server closed by a limit, by listener and reason (handshake_timeout, " +
      "handshake_failed, client_reset, request_timeout, idle_timeout, connection_limit).",
    ["service", "reason"],
  );
  readonly mqttConnections = this.gauge(
    "fleetgate_mqtt_connections",
    "Open MQTT connections (TCP accepted, including those still in the TLS handshake).",
  );
  readonly mqttSessions = this.gauge("fleetgate_mqtt_sessions", "Admitted MQTT sessions currently connected.");
  readonly mqttHandshakeFailures = this.counter(
    "fleetgate_mqtt_handshake_failures_total",
    "TLS handshakes that failed, by reason (e.g. no_certificate, unknown_ca, expired, timeout).",
    ["reason"],
  );
  readonly mqttRefusals = this.counter(
    "fleetgate_mqtt_refusals_total",
    "CONNECTs refused after the TLS handshake, by reason.",
    ["reason"],
  );
  readonly mqttDenials = this.counter(
    "fleetgate_mqtt_denials_total",
    "Packets or connections denied by permission or limit, by reason.",
    ["reason"],
  );
  readonly mqttMessagesIn = this.counter("fleetgate_mqtt_messages_in_total", "PUBLISH packets accepted from clients.");
  readonly mqttMessagesOut = this.counter(
    "fleetgate_mqtt_messages_out_total",
    "PUBLISH packets forwarded to subscribers.",
  );
  readonly mqttStoredQos2Messages = this.gauge(
    "fleetgate_mqtt_stored_qos2_messages",
    "Inbound QoS 2 messages stored awaiting PUBREL, all client ids (bounded per id by mqtt.maxStoredQos2).",
  );
  readonly mqttStoredQos2Bytes = this.gauge(
    "fleetgate_mqtt_stored_qos2_bytes",
    "Bytes (topic + payload) of the inbound QoS 2 messages stored awaiting PUBREL.",
  );
  readonly mqttPendingConnections = this.gauge(
    "fleetgate_mqtt_pending_connections",
    "MQTT connections accepted but not yet admitted (TLS handshake, CONNECT).",
  );
  readonly mqttStoreErrors = this.counter(
    "fleetgate_mqtt_store_errors_total",
    "Failures of the broker's persistence or emitter (in cluster mode: Redis), as Aedes reports them.",
  );
  readonly mqttKicks = this.counter(
    "fleetgate_mqtt_kicks_total",
    "Live sessions closed by the session kicker (revocation).",
  );

  private counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.registry] });
  }

  /**
   * When the CA certificates and the listeners' certificate expire, as Unix time in seconds (alert on
   * `fleetgate_ca_certificate_expiry_seconds - time() < 30 * 86400`). Read at scrape time from what the
   * server has loaded: a reload (issuing-CA rollover, server certificate renewal) shows at once.
   */
  watchCertificates(
    source: () => {
      readonly cas: readonly { readonly id: string; readonly notAfter: number }[];
      readonly serverNotAfter: number;
    },
  ): void {
    new Gauge({
      name: "fleetgate_ca_certificate_expiry_seconds",
      help: "notAfter of each trusted CA certificate (label ca: an issuing CA id, or root), Unix time in seconds.",
      labelNames: ["ca"] as const,
      registers: [this.registry],
      collect() {
        this.reset(); // a retired CA's series ends
        for (const ca of source().cas) this.set({ ca: ca.id }, Math.floor(ca.notAfter / 1000));
      },
    });
    new Gauge({
      name: "fleetgate_server_certificate_expiry_seconds",
      help: "notAfter of the certificate the TLS listeners serve, Unix time in seconds.",
      registers: [this.registry],
      collect() {
        this.set(Math.floor(source().serverNotAfter / 1000));
      },
    });
  }

  /** Collected at scrape time from the registry, so the figure is never stale. */
  watchExpiry(
    countExpiringBefore: (before: number) => Promise<number>,
    windows: Readonly<Record<string, number>> = { "7d": 7 * 86_400_000, "30d": 30 * 86_400_000 },
  ): void {
    new Gauge({
      name: "fleetgate_certificates_expiring",
      help: "Active certificates expiring within the window (label within: 7d, 30d).",
      labelNames: ["within"] as const,
      registers: [this.registry],
      async collect() {
        const now = Date.now();
        for (const [label, ms] of Object.entries(windows))
          this.set({ within: label }, await countExpiringBefore(now + ms));
      },
    });
  }
}
