import type { Client } from "aedes";
import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, enrollDevice, nextMessage, type EnrolledDevice } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { killAllCli, mosquittoArgs, runCli, spawnCli } from "../../helpers/mqtt-cli.js";
import {
  connectPacket,
  hasBytes,
  metricValue,
  openRaw,
  publishPacket,
  pubrelPacket,
  recorder,
  until,
  type RawSession,
} from "../../helpers/mqtt-kit.js";

/**
 * [MQTT-3.1.4-2] lets a new connection with an existing client id take the old session over.
 * fleetgate makes the client id equal the certificate CN, so only the device itself can do that:
 * another device asking for the id is refused with CONNACK 2 and the victim never notices.
 */
describe("session takeover attempts", () => {
  let fg: TestFleetgate;
  let dev1: EnrolledDevice;
  let dev2: EnrolledDevice;
  let svc: EnrolledDevice;
  let service: MqttClient;
  const clients: MqttClient[] = [];
  const raws: RawSession[] = [];

  const liveClient = (id: string): Client | undefined =>
    (fg.running.gateway.broker as unknown as { clients: Record<string, Client> }).clients[id];

  async function connect(device: EnrolledDevice, extra: Parameters<typeof connectDevice>[2] = {}): Promise<MqttClient> {
    const client = await connectDevice(fg, device, extra);
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    fg = await startTestFleetgate();
    [dev1, dev2, svc] = await Promise.all([
      enrollDevice(fg, "dev-1"),
      enrollDevice(fg, "dev-2"),
      enrollDevice(fg, "svc-1", "service"),
    ]);
    service = await connect(svc);
    await service.subscribeAsync("devices/+/telemetry/#", { qos: 2 });
  });

  afterAll(async () => {
    await killAllCli();
    for (const raw of raws) raw.close();
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await fg?.close();
    for (const device of [dev1, dev2, svc]) device?.cleanup();
  });

  it("refuses dev-2 asking for dev-1's id (MQTT.js, clean and persistent) and leaves dev-1 connected and served", async () => {
    const victim = await connect(dev1, { clean: false });
    await victim.subscribeAsync("devices/dev-1/commands/#", { qos: 1 });
    const victimSession = liveClient("dev-1");
    expect(victimSession).toBeDefined();
    let victimClosed = false;
    victim.on("close", () => (victimClosed = true));
    const refusalsBefore = await metricValue(fg, "fleetgate_mqtt_refusals_total", { reason: "client_id_mismatch" });

    for (const clean of [true, false]) {
      await expect(connectDevice(fg, { ...dev2, id: "dev-1" }, { clean })).rejects.toMatchObject({ code: 2 });
    }

    expect(await metricValue(fg, "fleetgate_mqtt_refusals_total", { reason: "client_id_mismatch" })).toBe(
      refusalsBefore + 2,
    );
    expect(fg.logs.lines).toContainEqual(
      expect.objectContaining({
        msg: "connection refused",
        reason: "client_id_mismatch",
        returnCode: 2,
        detail: 'client id "dev-1" ≠ CN dev-2',
      }),
    );
    // The victim's broker-side session is the very same object, and it still gets its commands.
    expect(liveClient("dev-1")).toBe(victimSession);
    const command = nextMessage(victim);
    await service.publishAsync("devices/dev-1/commands/reboot", "now", { qos: 1 });
    expect(await command).toEqual({ topic: "devices/dev-1/commands/reboot", payload: "now" });
    expect(victimClosed).toBe(false);
    expect(victim.connected).toBe(true);
    await victim.endAsync();
  });

  it("refuses mosquitto_pub -i dev-1 with dev-2's certificate while a mosquitto_sub dev-1 stays connected", async () => {
    const sub = spawnCli("mosquitto_sub", [
      ...mosquittoArgs(fg, dev1),
      "-i",
      "dev-1",
      "-c",
      "-q",
      "1",
      "-d",
      "-t",
      "devices/dev-1/commands/#",
      "-F",
      "MSG %t %p",
    ]);
    await sub.waitForStdout("received SUBACK");

    const attempt = await runCli("mosquitto_pub", [
      ...mosquittoArgs(fg, dev2),
      "-i",
      "dev-1",
      "-t",
      "devices/dev-1/telemetry",
      "-m",
      "hijack",
    ]);
    expect(attempt.code).toBe(2);
    expect(attempt.stderr).toContain("Connection error: Connection Refused: identifier rejected.");

    await service.publishAsync("devices/dev-1/commands/ping", "still-there", { qos: 1 });
    await sub.waitForStdout("MSG devices/dev-1/commands/ping still-there");
    // One CONNECT only: the subscriber was never disconnected (it would reconnect and send another).
    expect(sub.stdout().split("sending CONNECT").length - 1).toBe(1);
    await sub.kill();
  });

  it("a refused takeover attempt does not wipe the victim's QoS 2 state: a DUP retransmission is still delivered once", async () => {
    const seen = recorder(service);
    const raw = await openRaw(fg, dev1);
    raws.push(raw);
    raw.send(connectPacket("dev-1", { clean: true }));
    await raw.waitFor((bytes) => hasBytes(bytes, "20020000"));
    // QoS 2 step one: PUBLISH → PUBREC; the broker keeps the message id to drop a retransmission.
    raw.send(publishPacket("devices/dev-1/telemetry", "exactly-once", { qos: 2, messageId: 7 }));
    await raw.waitFor((bytes) => hasBytes(bytes, "50020007"));

    await expect(connectDevice(fg, { ...dev2, id: "dev-1" }, { clean: true })).rejects.toMatchObject({ code: 2 });

    // The sender did not see PUBREC in time and retransmits with DUP (allowed until PUBREL).
    raw.send(publishPacket("devices/dev-1/telemetry", "exactly-once", { qos: 2, messageId: 7, dup: true }));
    raw.send(pubrelPacket(7));
    await raw.waitFor((bytes) => hasBytes(bytes, "70020007")); // PUBCOMP
    raw.send(publishPacket("devices/dev-1/telemetry", "sentinel", { qos: 0 }));
    await until(service, seen, (messages) => messages.some((m) => m.payload === "sentinel"));
    expect(seen.map((m) => m.payload)).toEqual(["exactly-once", "sentinel"]);
    raw.close();
  });
});
