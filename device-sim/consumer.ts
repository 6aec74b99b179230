import type { MqttClient } from "mqtt";
import { RetryBudget } from "./backoff.js";
import { CredentialStore, type DeviceCredential } from "./credential-store.js";
import { CommandLog, DeliveryLog } from "./delivery-log.js";
import { EnrollClient } from "./enroll-client.js";
import { HttpsClient } from "./https-client.js";
import { connectOnce } from "./mqtt-link.js";
import { commandTopic, deviceIdOfTopic, EVENTS_FILTER, parseTelemetry, TELEMETRY_FILTER } from "./telemetry.js";
import { DEFAULT_RETRY, tokenFor, type EnrollMethod, type FleetEndpoints, type TokenSource } from "./types.js";

export interface ConsumerOptions {
  readonly endpoints: FleetEndpoints;
  /** Its credential lives in `<stateDir>/<id>/` like a device's. */
  readonly stateDir: string;
  /** The CN; default `sim-consumer`. */
  readonly id?: string;
  /** A token with a `service` profile; only needed the first time (nothing stored yet). */
  readonly token?: TokenSource;
  readonly enrollMethod?: EnrollMethod;
  /** Send one `ping` command to each device on its first telemetry (default true). */
  readonly pingDevices?: boolean;
}

export interface TelemetryConsumer {
  readonly id: string;
  readonly deliveries: DeliveryLog;
  readonly commands: CommandLog;
  /** Times the broker closed the consumer's session (each may lose messages). */
  readonly disconnects: number;
  close(): Promise<void>;
}

const EXPIRY_MARGIN_MS = 60_000;
const PING_INTERVAL_MS = 100;
const PINGS_PER_INTERVAL = 8;

/** Service-role credential: stored, or enrolled once with the service token. */
async function consumerCredential(options: ConsumerOptions, id: string): Promise<DeviceCredential> {
  const store = new CredentialStore(options.stateDir);
  const stored = await store.load(id);
  // An expired consumer certificate is replaced (a single-device token may re-enroll its device).
  if (stored && (stored.notAfter > Date.now() + EXPIRY_MARGIN_MS || !options.token)) return stored;
  if (!options.token) throw new Error(`consumer ${id} has no stored credential and no service token`);
  const enroll = new EnrollClient(options.endpoints.enrollUrl, new HttpsClient(options.endpoints.caPem, 1));
  const credential = await enroll.enroll(id, await tokenFor(options.token, id), options.enrollMethod ?? "est");
  await store.save(credential);
  return credential;
}

/**
 * The backend side of the bus: a `service` identity subscribed to every device's telemetry and
 * events. It records seq and timestamps per device for the report and pings each device once.
 */
export async function startConsumer(options: ConsumerOptions): Promise<TelemetryConsumer> {
  const id = options.id ?? "sim-consumer";
  const credential = await consumerCredential(options, id);
  return new ConsumerSession(id, options, credential).open();
}

class ConsumerSession implements TelemetryConsumer {
  readonly deliveries = new DeliveryLog();
  readonly commands = new CommandLog();
  disconnects = 0;
  private client: MqttClient | null = null;
  private closing = false;
  private readonly pings: string[] = [];
  private readonly pinged = new Set<string>();
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly budget = new RetryBudget(DEFAULT_RETRY);

  constructor(
    readonly id: string,
    private readonly options: ConsumerOptions,
    private readonly credential: DeviceCredential,
  ) {}

  async open(): Promise<this> {
    const outcome = await connectOnce(this.options.endpoints, this.credential);
    if (!outcome.ok) throw new Error(`consumer ${this.id} could not connect: ${outcome.reason}`);
    await this.attach(outcome.client);
    return this;
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.pingTimer);
    const client = this.client;
    this.client = null;
    await client?.endAsync().catch(() => undefined);
  }

  private async attach(client: MqttClient): Promise<void> {
    this.client = client;
    client.on("message", (topic, payload) => this.receive(topic, payload));
    client.on("close", () => this.onClose(client));
    const granted = await client.subscribeAsync([TELEMETRY_FILTER, EVENTS_FILTER], { qos: 1 });
    if (granted.some((grant) => grant.qos === 128))
      throw new Error(
        `consumer ${this.id} was refused ${TELEMETRY_FILTER}: is its certificate from a service profile?`,
      );
  }

  private receive(topic: string, payload: Buffer): void {
    const now = Date.now();
    const deviceId = deviceIdOfTopic(topic);
    if (deviceId === null) return;
    if (topic.includes("/events/")) return this.commands.markAnswered(deviceId, now);
    const telemetry = parseTelemetry(payload);
    if (!telemetry) return this.deliveries.recordMalformed();
    this.deliveries.record(deviceId, telemetry.seq, telemetry.ts, now);
    if (this.options.pingDevices !== false && !this.pinged.has(deviceId)) this.ping(deviceId);
  }

  /** Pings go out paced: the broker drops a service's publishes beyond its rate (default 100/s). */
  private ping(deviceId: string): void {
    this.pinged.add(deviceId);
    this.pings.push(deviceId);
    this.pingTimer ??= setInterval(() => this.sendPings(), PING_INTERVAL_MS);
  }

  private sendPings(): void {
    for (const deviceId of this.pings.splice(0, PINGS_PER_INTERVAL)) {
      const at = Date.now();
      this.commands.markSent(deviceId, at);
      this.client?.publish(commandTopic(deviceId, "ping"), JSON.stringify({ id: `ping-${at}` }), { qos: 1 });
    }
    if (this.pings.length === 0) {
      clearInterval(this.pingTimer);
      this.pingTimer = undefined;
    }
  }

  /** Messages published while the consumer is away are lost to it, and the report will say so. */
  private onClose(client: MqttClient): void {
    if (this.closing || client !== this.client) return;
    this.client = null;
    this.disconnects++;
    void this.reconnect();
  }

  /** A cluster's nodes in turn: the one it lost first (it may be back), then the next. */
  private async reconnect(): Promise<void> {
    const brokers = this.options.endpoints.mqttBrokers ?? [];
    for (let attempt = 0; !this.closing; attempt++) {
      const broker = brokers.length === 0 ? this.options.endpoints : brokers[attempt % brokers.length]!;
      const outcome = await connectOnce(this.options.endpoints, this.credential, undefined, undefined, broker);
      if (outcome.ok && this.closing) return void outcome.client.end(true);
      if (outcome.ok) {
        this.budget.succeeded();
        return this.attach(outcome.client).catch(() => undefined);
      }
      const decision = this.budget.failed(outcome.kind, outcome.reason);
      if (!decision.retry) return;
      await new Promise((resolve) => setTimeout(resolve, decision.delayMs));
    }
  }
}
