import type { Client } from "aedes";
import type { IClientOptions, MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, enrollDevice, nextMessage, type EnrolledDevice } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { killAllCli, mosquittoArgs, spawnCli } from "../../helpers/mqtt-cli.js";
import { closed, connectWithConnack, metricValue, recorder, until, waitForLogs } from "../../helpers/mqtt-kit.js";

type Seen = { topic: string; payload: string }[];

/**
 * The session-kicker port (the revocation use case calls it): close a device's live session at
 * once, silence its will and discard its persistent session. It is not a ban: the certificate
 * stays active here, so the device may connect again, to an empty session.
 */
describe("SessionRegistry.kick", () => {
  let fg: TestFleetgate;
  let dev1: EnrolledDevice;
  let dev2: EnrolledDevice;
  let svc: EnrolledDevice;
  let service: MqttClient;
  let serviceSeen: Seen;
  const clients: MqttClient[] = [];

  const broker = () =>
    fg.running.gateway.broker as unknown as {
      clients: Record<string, Client>;
      persistence: { subscriptionsByClient(c: { id: string }): Promise<{ topic: string }[]> };
    };
  const kicks = () => metricValue(fg, "fleetgate_mqtt_kicks_total");
  const will = (payload: string): IClientOptions["will"] => ({
    topic: "devices/dev-1/state",
    payload: Buffer.from(payload),
    qos: 1,
    retain: false,
  });

  async function connect(device: EnrolledDevice, extra: IClientOptions = {}): Promise<MqttClient> {
    const client = await connectDevice(fg, device, extra);
    clients.push(client);
    return client;
  }

  /** A persistent dev-1 session subscribed to its commands at QoS 1, with a will. */
  async function persistentDev1(willPayload: string): Promise<MqttClient> {
    const device = await connect(dev1, { clean: false, will: will(willPayload) });
    await device.subscribeAsync("devices/dev-1/commands/#", { qos: 1 });
    return device;
  }

  /**
   * Reconnects dev-1 persistently and reports the session-present flag and what arrives before a fresh
   * sentinel command.
   */
  async function reconnectDev1(): Promise<{ sessionPresent: boolean; received: string[] }> {
    const { client, connack } = await connectWithConnack(fg, dev1, { clean: false });
    clients.push(client);
    const seen = recorder(client);
    await client.subscribeAsync("devices/dev-1/commands/#", { qos: 1 });
    await service.publishAsync("devices/dev-1/commands/sentinel", "sentinel", { qos: 1 });
    await until(client, seen, (messages) => messages.some((m) => m.payload === "sentinel"));
    await client.endAsync();
    return { sessionPresent: connack.sessionPresent, received: seen.map((m) => m.payload) };
  }

  /** dev-2 reports its state; once the service has it, an earlier will of dev-1 would have arrived too. */
  async function stateSentinel(label: string, connected?: MqttClient): Promise<void> {
    const other = connected ?? (await connect(dev2));
    await other.publishAsync("devices/dev-2/state", label, { qos: 1 });
    await until(service, serviceSeen, (messages) => messages.some((m) => m.payload === label));
    if (!connected) await other.endAsync();
  }

  beforeAll(async () => {
    fg = await startTestFleetgate();
    [dev1, dev2, svc] = await Promise.all([
      enrollDevice(fg, "dev-1"),
      enrollDevice(fg, "dev-2"),
      enrollDevice(fg, "svc-1", "service"),
    ]);
    service = await connect(svc);
    serviceSeen = recorder(service);
    await service.subscribeAsync(["devices/+/state", "devices/+/telemetry/#"], { qos: 1 });
  });

  afterAll(async () => {
    await killAllCli();
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await fg?.close();
    for (const device of [dev1, dev2, svc]) device?.cleanup();
  });

  it("control: without a kick, an abrupt close publishes the will and the persistent session keeps a queued command", async () => {
    const device = await persistentDev1("control will");
    device.stream.destroy();
    await until(service, serviceSeen, (messages) => messages.some((m) => m.payload === "control will"));
    await service.publishAsync("devices/dev-1/commands/queued", "queued", { qos: 1 });
    expect(await reconnectDev1()).toEqual({ sessionPresent: true, received: ["queued", "sentinel"] });
  });

  it("closes dev-1's MQTT.js connection, suppresses its will, discards its session, leaves dev-2 alone", async () => {
    const device = await persistentDev1("kicked will");
    const bystander = await connect(dev2);
    await bystander.subscribeAsync("devices/dev-2/commands/#", { qos: 1 });
    const serverSide = broker().clients["dev-1"]!;
    const serverSocketClosed = new Promise((resolve) => serverSide.conn.once("close", resolve));
    const clientClosed = closed(device);
    const kicksBefore = await kicks();

    expect(await fg.running.gateway.sessions.kick("dev-1", "test")).toBe(1);
    await Promise.all([clientClosed, serverSocketClosed]);
    expect(await kicks()).toBe(kicksBefore + 1);
    await waitForLogs(fg, { msg: "device sessions kicked", deviceId: "dev-1", reason: "test", sessions: 1 });
    expect((await fg.running.gateway.sessions.sessionsOf("dev-1")).length).toBe(0);
    expect(await broker().persistence.subscriptionsByClient({ id: "dev-1" })).toEqual([]);

    await stateSentinel("dev-2 state after kick", bystander);
    expect(serviceSeen.map((m) => m.payload)).not.toContain("kicked will");

    const command = nextMessage(bystander);
    await service.publishAsync("devices/dev-2/commands/still", "dev-2 untouched", { qos: 1 });
    expect(await command).toEqual({ topic: "devices/dev-2/commands/still", payload: "dev-2 untouched" });
    expect(bystander.connected).toBe(true);
    await bystander.endAsync();

    // Published while dev-1 is away: with its subscription discarded, nothing is queued for it.
    await service.publishAsync("devices/dev-1/commands/while-kicked", "while-kicked", { qos: 1 });
    expect(await reconnectDev1()).toEqual({ sessionPresent: false, received: ["sentinel"] });
  });

  it("discards commands already queued for an offline persistent session (kick returns 0 live sessions)", async () => {
    const device = await persistentDev1("offline will");
    await device.endAsync(); // clean DISCONNECT: session kept, will discarded
    await service.publishAsync("devices/dev-1/commands/queued", "queued before kick", { qos: 1 });
    const kicksBefore = await kicks();
    expect(await fg.running.gateway.sessions.kick("dev-1", "test offline")).toBe(0);
    expect(await kicks()).toBe(kicksBefore);
    expect(await reconnectDev1()).toEqual({ sessionPresent: false, received: ["sentinel"] });
  });

  it("closes a mosquitto_sub connection of dev-1 too, without its will", async () => {
    const sub = spawnCli("mosquitto_sub", [
      ...mosquittoArgs(fg, dev1),
      "-i",
      "dev-1",
      "-c",
      "-q",
      "1",
      "-d",
      "-F",
      "MSG %t %p",
      "--will-topic",
      "devices/dev-1/state",
      "--will-payload",
      "cli will",
      "--will-qos",
      "1",
      "-t",
      "devices/dev-1/commands/#",
    ]);
    await sub.waitForStdout("received SUBACK");
    const serverSide = broker().clients["dev-1"]!;
    const serverSocketClosed = new Promise((resolve) => serverSide.conn.once("close", resolve));
    const kicksBefore = await kicks();

    expect(await fg.running.gateway.sessions.kick("dev-1", "test cli")).toBe(1);
    await serverSocketClosed;
    // mosquitto_sub does not reconnect after a lost connection: it reports it and exits.
    const result = await sub.exited;
    expect(result).toMatchObject({ code: 7, stderr: "Error: The connection was lost.\n", killedOnTimeout: false });
    expect(await kicks()).toBe(kicksBefore + 1);
    await stateSentinel("dev-2 state after cli kick");
    expect(serviceSeen.map((m) => m.payload)).not.toContain("cli will");
    expect(await reconnectDev1()).toEqual({ sessionPresent: false, received: ["sentinel"] });
  });
});
