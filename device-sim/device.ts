import type { MqttClient } from "mqtt";
import { backoffDelay, RetryBudget } from "./backoff.js";
import type { DeviceCredential } from "./credential-store.js";
import { obtainCredential } from "./device-boot.js";
import type { DeviceEnvironment } from "./device-env.js";
import { newDeviceRecord, type DeviceRecord } from "./device-record.js";
import { EnrollError } from "./enroll-client.js";
import { connectOnce } from "./mqtt-link.js";
import { TlsSessionSlot } from "./tls-session.js";
import { Outbox } from "./outbox.js";
import { renewalTime } from "./renewal.js";
import { answerTo, commandFilter, eventTopic, SensorState, telemetryTopic } from "./telemetry.js";
import type { RefusalStage, MqttBroker } from "./types.js";

export type DeviceState = "off" | "booting" | "connecting" | "online" | "switching" | "gave-up" | "stopped";

/** Unacknowledged QoS 1 messages a device keeps on the wire, like a small receive window. */
const SEND_WINDOW = 20;
/**
 * A backlog (telemetry buffered while offline) is sent at most this fast: the broker drops what a
 * device publishes beyond its per-device rate (default 100/s, burst 200) after acknowledging it.
 */
const MAX_SEND_RATE = 80;
/** How long a renewal waits for in-flight telemetry to be acknowledged before switching anyway. */
const SWITCH_DRAIN_MS = 5_000;

/**
 * One simulated device, behaving like firmware: boot (stored or enrolled credentials), connect,
 * sample telemetry at its rate, answer commands, renew at two thirds of the certificate's life (with
 * jitter) over EST simplereenroll and reconnect with it, and back off (then give up) when the server refuses it.
 */
export class SimDevice {
  readonly record: DeviceRecord;
  private readonly outbox = new Outbox();
  private readonly sensor = new SensorState();
  /** Its TLS session, offered on every reconnect (resumption), as firmware keeps it. */
  private readonly tlsSession = new TlsSessionSlot();
  private readonly budget: RetryBudget;
  private readonly intervalMs: number;
  private readonly tasks = new Set<Promise<unknown>>();
  private credential: DeviceCredential | null = null;
  private client: MqttClient | null = null;
  private state: DeviceState = "off";
  private nextSampleAt = Infinity;
  private renewAt = Infinity;
  private renewing = false;
  private renewFailures = 0;
  private sendAllowance = SEND_WINDOW;
  private lastTickAt = 0;
  private readonly sendRate: number;
  /** Which broker node it uses now (cluster: chosen by its id, the next one after a failed attempt). */
  private broker: number;

  constructor(
    readonly id: string,
    private readonly env: DeviceEnvironment,
  ) {
    this.record = newDeviceRecord(id);
    this.budget = new RetryBudget(env.retry);
    this.intervalMs = 1000 / env.rate;
    this.sendRate = Math.min(MAX_SEND_RATE, Math.max(20, env.rate * 2));
    this.broker = [...id].reduce((sum, ch) => sum + ch.charCodeAt(0), 0);
  }

  /** The node to try now; after a transient failure (a node down, a network blip) the next one. */
  private brokerFor(attempt: "same" | "next"): MqttBroker {
    const brokers = this.env.endpoints.mqttBrokers ?? [];
    if (attempt === "next") this.broker += 1;
    return brokers.length === 0 ? this.env.endpoints : brokers[this.broker % brokers.length]!;
  }

  get status(): DeviceState {
    return this.state;
  }

  get pending(): number {
    return this.outbox.pending;
  }

  /** Telemetry the broker has acknowledged so far. */
  get acknowledged(): number {
    return this.outbox.highestSeq - this.outbox.pending;
  }

  /** Power-on: credentials first, then the connection loop. Resolves once online or given up; never rejects. */
  async boot(): Promise<void> {
    await this.powerOn().catch((error: unknown) => this.giveUp(`boot failed: ${(error as Error).message}`));
  }

  private async powerOn(): Promise<void> {
    this.state = "booting";
    this.record.bootAt = Date.now();
    const outcome = await obtainCredential(this.env, this.record, this.budget);
    if ("gaveUp" in outcome) return this.giveUp(outcome.gaveUp);
    if ("stopped" in outcome) return;
    this.credential = outcome.credential;
    this.record.issuer = outcome.credential.issuer;
    this.planRenewal();
    await this.connectLoop();
  }

  /** Called on every scheduler tick: take due readings, send, renew when it is time. */
  tick(now: number): void {
    this.sendAllowance = Math.min(SEND_WINDOW, this.sendAllowance + ((now - this.lastTickAt) * this.sendRate) / 1000);
    this.lastTickAt = now;
    while (now >= this.nextSampleAt) {
      this.nextSampleAt += this.intervalMs;
      if (!this.outbox.add((seq) => JSON.stringify(this.sensor.read(seq, now)))) this.record.skippedSamples++;
    }
    if (this.state !== "online") return;
    this.flush();
    if (now >= this.renewAt && !this.renewing) this.track(this.renew());
  }

  stopSampling(): void {
    this.nextSampleAt = Infinity;
  }

  /** The run is over: record what was never acknowledged, say goodbye to the broker. */
  async shutdown(): Promise<void> {
    this.stopSampling();
    if (this.state !== "gave-up") this.state = "stopped";
    const client = this.client;
    this.client = null;
    this.outbox.requeueInFlight();
    await client?.endAsync().catch(() => undefined);
    await Promise.allSettled([...this.tasks]);
    this.record.lastSeq = this.outbox.highestSeq;
    this.record.unacked = this.outbox.unacknowledged();
  }

  private get stopping(): boolean {
    return this.env.signal.aborted || this.state === "stopped" || this.state === "gave-up";
  }

  private async connectLoop(): Promise<void> {
    this.state = "connecting";
    while (!this.stopping) {
      // The server drops an expired certificate's handshake without a word; firmware knows its
      // own certificate's notAfter and that only a new bootstrap token can help now.
      if (Date.now() >= this.credential!.notAfter)
        return this.giveUp(`certificate expired at ${new Date(this.credential!.notAfter).toISOString()}`);
      this.record.firstConnectAttemptAt ??= Date.now();
      const broker = this.brokerFor("same");
      const outcome = await this.env.connects.run(() =>
        connectOnce(this.env.endpoints, this.credential!, this.env.signal, undefined, broker, this.tlsSession),
      );
      if (outcome.ok) {
        if (outcome.resumed) this.record.resumedConnects++;
        return this.stopping ? void outcome.client.end(true) : this.goOnline(outcome.client);
      }
      if (outcome.kind === "refused") this.refused("connect", outcome.reason);
      else this.brokerFor("next");
      const decision = this.budget.failed(outcome.kind, outcome.reason);
      if (!decision.retry) return this.giveUp(`connect: ${decision.reason}`);
      await this.env.scheduler.sleep(decision.delayMs);
    }
  }

  private async goOnline(client: MqttClient): Promise<void> {
    this.client = client;
    this.budget.succeeded();
    client.on("close", () => this.onClose(client));
    client.on("message", (topic, payload) => this.answerCommand(topic, payload));
    await client.subscribeAsync(commandFilter(this.id), { qos: 1 }).catch(() => undefined);
    if (client !== this.client) return; // closed while subscribing; onClose took over
    const at = Date.now();
    this.state = "online";
    this.env.emit({ type: "connected", deviceId: this.id, at, reconnect: this.record.connects > 0 });
    this.record.connects++;
    this.record.firstConnectedAt ??= at;
    if (this.nextSampleAt === Infinity) this.nextSampleAt = at; // firmware samples once it runs
    this.flush();
  }

  /** The server closed a session we did not end: a kick. Unacked telemetry waits for the next session. */
  private onClose(client: MqttClient): void {
    if (client !== this.client) return; // ended on purpose (renewal, shutdown)
    this.client = null;
    client.end(true);
    this.outbox.requeueInFlight();
    if (this.stopping) return;
    const at = Date.now();
    this.record.kicks.push(at);
    this.env.emit({ type: "kicked", deviceId: this.id, at });
    this.state = "connecting";
    this.track(this.env.scheduler.sleep(backoffDelay(this.env.retry, 1)).then(() => this.connectLoop()));
  }

  private flush(): void {
    const client = this.client;
    if (!client || this.state !== "online") return;
    while (this.sendAllowance >= 1) {
      const message = this.outbox.next(SEND_WINDOW);
      if (!message) return;
      this.sendAllowance--;
      const { seq } = message;
      client.publish(telemetryTopic(this.id), message.payload, { qos: 1 }, (error) => {
        if (error || client !== this.client) return; // requeued when that connection closed
        this.outbox.ack(seq);
        this.flush();
      });
    }
  }

  private answerCommand(topic: string, payload: Buffer): void {
    this.client?.publish(eventTopic(this.id, "ack"), JSON.stringify(answerTo(topic, payload)), { qos: 1 });
  }

  private planRenewal(): void {
    const { obtainedAt, notAfter } = this.credential!;
    this.renewAt = renewalTime(obtainedAt, notAfter, this.env.renewAtFraction, this.env.renewJitter);
  }

  private async renew(): Promise<void> {
    this.renewing = true;
    try {
      const renewed = await this.env.enrollments.run(() => this.env.enroll.reenroll(this.credential!));
      await this.env.store.save(renewed);
      this.credential = renewed;
      this.renewFailures = 0;
      this.record.renewals++;
      this.record.renewedAt.push(Date.now());
      this.record.issuer = renewed.issuer;
      this.planRenewal();
      this.env.emit({ type: "renewed", deviceId: this.id, at: Date.now(), notAfter: renewed.notAfter });
      await this.switchConnection();
    } catch (error) {
      this.renewalFailed(error);
    } finally {
      this.renewing = false;
    }
  }

  /** Keeps the current certificate and tries again later; refused too often, it stops asking. */
  private renewalFailed(error: unknown): void {
    const failure = error instanceof EnrollError ? error : new EnrollError((error as Error).message, "transient");
    if (failure.kind === "refused") this.refused("renew", failure.message);
    const attempt = ++this.renewFailures;
    const exhausted = failure.kind === "refused" && attempt >= this.env.retry.maxRefusals;
    this.renewAt = exhausted
      ? Infinity
      : Date.now() + Math.max(failure.retryAfterMs, backoffDelay(this.env.retry, attempt));
  }

  /** New certificate, new connection: let in-flight telemetry be acknowledged, DISCONNECT, connect again. */
  private async switchConnection(): Promise<void> {
    const old = this.client;
    if (!old || this.state !== "online") return; // offline: the connect loop already uses the new credential
    this.state = "switching";
    await Promise.race([this.outbox.whenInFlightEmpty(), this.env.scheduler.sleep(SWITCH_DRAIN_MS)]);
    if (this.client !== old) return; // the server closed it meanwhile; onClose is reconnecting
    this.client = null;
    this.outbox.requeueInFlight();
    await old.endAsync().catch(() => undefined);
    await this.connectLoop();
  }

  private refused(stage: RefusalStage, reason: string): void {
    const at = Date.now();
    this.record.refusals.push({ at, stage, reason });
    this.env.emit({ type: "refused", deviceId: this.id, at, stage, reason });
  }

  private giveUp(reason: string): void {
    const at = Date.now();
    this.state = "gave-up";
    this.stopSampling();
    this.record.gaveUp = { at, reason };
    this.env.emit({ type: "gave-up", deviceId: this.id, at, reason });
  }

  /** Background work (renewal, reconnect) the shutdown waits for; a failure ends the device, loudly. */
  private track(task: Promise<unknown>): void {
    const guarded = task.catch((error: unknown) => this.giveUp(`failed: ${(error as Error).message}`));
    this.tasks.add(guarded);
    void guarded.finally(() => this.tasks.delete(guarded));
  }
}
