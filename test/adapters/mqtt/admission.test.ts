import type { Client } from "aedes";
import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, enrollDevice, nextMessage, type EnrolledDevice } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import {
  asn1UtcTime,
  foreignCaCertificate,
  opensslIssuedCertificate,
  signerIssuedCertificate,
  type CertFiles,
} from "../../helpers/mqtt-certs.js";
import { killAllCli, mosquittoArgs, runCli, spawnCli } from "../../helpers/mqtt-cli.js";
import {
  closed,
  connectPacket,
  subackCodes,
  countLogs,
  metricValue,
  rawExchange,
  recorder,
  until,
  waitForLogs,
} from "../../helpers/mqtt-kit.js";

const DAY = 86_400_000;

/**
 * Who gets in: only a certificate chaining to fleetgate's issuing CA (checked by TLS), whose
 * serial is active in the registry, on an MQTT 3.1.1 CONNECT whose client id is the CN. Each case
 * runs with MQTT.js and with the Debian mosquitto clients.
 */
describe("MQTT admission", () => {
  let fg: TestFleetgate;
  let dev1: EnrolledDevice;
  let svc: EnrolledDevice;
  /**
   * A second service identity for the CLI: a client id is one session, so svc-1's CLI use would take over
   * `service`.
   */
  let svcCli: EnrolledDevice;
  let service: MqttClient;
  let telemetry: { topic: string; payload: string }[];
  const clients: MqttClient[] = [];
  const certs: CertFiles[] = [];

  const liveClient = (id: string): Client | undefined =>
    (fg.running.gateway.broker as unknown as { clients: Record<string, Client> }).clients[id];

  async function connect(
    device: { certPem: string; keyPem: string; id?: string },
    extra: Parameters<typeof connectDevice>[2] = {},
  ): Promise<MqttClient> {
    const client = await connectDevice(fg, device, extra);
    clients.push(client);
    return client;
  }

  /** The telemetry payloads the service has seen, once `payload` is among them. */
  async function serviceReceives(payload: string): Promise<string[]> {
    await until(service, telemetry, (seen) => seen.some((m) => m.payload === payload));
    return telemetry.map((m) => `${m.topic} ${m.payload}`);
  }

  /**
   * Runs `attempts` and checks that exactly `n` TLS handshake failures with `reason` and `error` were logged
   * and counted.
   */
  async function expectHandshakeFailures(
    reason: string,
    error: string,
    n: number,
    attempts: () => Promise<void>,
  ): Promise<void> {
    const logged = countLogs(fg, { msg: "TLS handshake failed", reason, error });
    const counted = await metricValue(fg, "fleetgate_mqtt_handshake_failures_total", { reason });
    const sessions = countLogs(fg, { msg: "client connected" });
    await attempts();
    await waitForLogs(fg, { msg: "TLS handshake failed", reason, error }, logged + n);
    expect(await metricValue(fg, "fleetgate_mqtt_handshake_failures_total", { reason })).toBe(counted + n);
    expect(countLogs(fg, { msg: "client connected" })).toBe(sessions);
  }

  /**
   * A handshake the server aborts after verifying the client certificate: MQTT.js sees the socket close
   * before any CONNACK.
   */
  const closedBeforeConnack = (error: unknown) => {
    const e = error as NodeJS.ErrnoException;
    return e.message === "closed before CONNACK" || e.code === "ECONNRESET";
  };

  beforeAll(async () => {
    fg = await startTestFleetgate();
    [dev1, svc, svcCli] = await Promise.all([
      enrollDevice(fg, "dev-1"),
      enrollDevice(fg, "svc-1", "service"),
      enrollDevice(fg, "svc-2", "service"),
    ]);
    service = await connect(svc);
    telemetry = recorder(service);
    await service.subscribeAsync("devices/+/telemetry/#", { qos: 1 });
  });

  afterAll(async () => {
    await killAllCli();
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await fg?.close();
    for (const files of [dev1, svc, svcCli, ...certs]) files?.cleanup();
  });

  describe("a valid device on its own topics", () => {
    it("MQTT.js: the device's telemetry reaches the service and the service's command reaches the device", async () => {
      const device = await connect(dev1);
      await device.subscribeAsync("devices/dev-1/commands/#", { qos: 1 });
      await device.publishAsync("devices/dev-1/telemetry/temp", "21.5", { qos: 1 });
      expect(await serviceReceives("21.5")).toContain("devices/dev-1/telemetry/temp 21.5");
      const command = nextMessage(device);
      await service.publishAsync("devices/dev-1/commands/x", "reboot", { qos: 1 });
      expect(await command).toEqual({ topic: "devices/dev-1/commands/x", payload: "reboot" });
      await device.endAsync();
    });

    it("mosquitto_pub, mosquitto_sub and mosquitto_rr (-V mqttv311): the same round trip", async () => {
      const pub = await runCli("mosquitto_pub", [
        ...mosquittoArgs(fg, dev1),
        "-i",
        "dev-1",
        "-q",
        "1",
        "-t",
        "devices/dev-1/telemetry",
        "-m",
        "from-cli",
      ]);
      expect(pub).toMatchObject({ code: 0, stderr: "" });
      expect(await serviceReceives("from-cli")).toContain("devices/dev-1/telemetry from-cli");

      const sub = spawnCli("mosquitto_sub", [
        ...mosquittoArgs(fg, dev1),
        "-i",
        "dev-1",
        "-d",
        "-q",
        "1",
        "-C",
        "1",
        "-t",
        "devices/dev-1/commands/#",
        "-F",
        "MSG %t %p",
      ]);
      await sub.waitForStdout("received SUBACK");
      await runCli("mosquitto_pub", [
        ...mosquittoArgs(fg, svcCli),
        "-i",
        "svc-2",
        "-q",
        "1",
        "-t",
        "devices/dev-1/commands/x",
        "-m",
        "cli-command",
      ]);
      const subbed = await sub.exited;
      expect(subbed.code).toBe(0);
      expect(subbed.stdout).toContain("MSG devices/dev-1/commands/x cli-command");

      // Request/response: the device asks on its telemetry topic, the service answers on its commands.
      service.on("message", (topic, payload) => {
        if (topic === "devices/dev-1/telemetry/request")
          void service.publishAsync("devices/dev-1/commands/reply", `re:${payload.toString()}`, { qos: 1 });
      });
      const rr = await runCli("mosquitto_rr", [
        ...mosquittoArgs(fg, dev1),
        "-i",
        "dev-1",
        "-t",
        "devices/dev-1/telemetry/request",
        "-e",
        "devices/dev-1/commands/reply",
        "-m",
        "ping",
      ]);
      expect(rr).toMatchObject({ code: 0, stdout: "re:ping\n" });
    });
  });

  describe("refused during the TLS handshake (no CONNACK is ever sent)", () => {
    it("no client certificate: TLS 1.3 alert certificate_required; logged as no_certificate", async () => {
      await expectHandshakeFailures("no_certificate", "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE", 2, async () => {
        await expect(connectDevice(fg, dev1, { cert: undefined, key: undefined })).rejects.toMatchObject({
          code: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
        });
        const cli = await runCli("mosquitto_pub", [
          ...mosquittoArgs(fg, dev1, { withCert: false }),
          "-d",
          "-i",
          "dev-1",
          "-t",
          "devices/dev-1/telemetry",
          "-m",
          "x",
        ]);
        expect(cli).toMatchObject({ code: 7, stderr: "Error: The connection was lost.\n" });
        expect(cli.stdout).toContain("tlsv13 alert certificate required");
        expect(cli.stdout).not.toContain("CONNACK");
      });
    });

    it("a certificate with the same CN and OU from another CA: logged as certificate_untrusted", async () => {
      const foreign = foreignCaCertificate(fg, "dev-1");
      certs.push(foreign);
      await expectHandshakeFailures("certificate_untrusted", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", 2, async () => {
        await expect(connectDevice(fg, foreign, { clientId: "dev-1" })).rejects.toSatisfy(closedBeforeConnack);
        const cli = await runCli("mosquitto_pub", [
          ...mosquittoArgs(fg, foreign),
          "-d",
          "-i",
          "dev-1",
          "-t",
          "devices/dev-1/telemetry",
          "-m",
          "x",
        ]);
        expect(cli).toMatchObject({ code: 7, stderr: "Error: The connection was lost.\n" });
        expect(cli.stdout).not.toContain("CONNACK");
      });
    });

    it("an expired certificate from the real issuing CA, recorded in the registry or not: logged as certificate_expired", async () => {
      const now = Date.now();
      const unrecorded = opensslIssuedCertificate(fg, "dev-1", asn1UtcTime(now - 3 * DAY), asn1UtcTime(now - DAY));
      const recorded = await signerIssuedCertificate(fg, "dev-6", {
        now: now - 3 * DAY,
        lifetimeMs: DAY,
        record: true,
      });
      certs.push(unrecorded, recorded);
      // The registry alone would admit the recorded one; the TLS layer checks the dates.
      expect(await fg.running.registry.certificateState(recorded.serial)).toMatchObject({
        status: "active",
        deviceStatus: "active",
      });
      await expectHandshakeFailures("certificate_expired", "CERT_HAS_EXPIRED", 4, async () => {
        for (const cert of [unrecorded, recorded]) {
          await expect(connectDevice(fg, cert)).rejects.toSatisfy(closedBeforeConnack);
          const cli = await runCli("mosquitto_pub", [
            ...mosquittoArgs(fg, cert),
            "-d",
            "-i",
            cert.id,
            "-t",
            `devices/${cert.id}/telemetry`,
            "-m",
            "x",
          ]);
          expect(cli).toMatchObject({ code: 7, stderr: "Error: The connection was lost.\n" });
          expect(cli.stdout).not.toContain("CONNACK");
        }
      });
    });
  });

  describe("refused with a CONNACK return code", () => {
    it("a certificate from the real issuing CA whose serial is not in the registry: CONNACK 5", async () => {
      const now = Date.now();
      // Same CN as the enrolled dev-1: only the serial tells it apart.
      const sameCn = opensslIssuedCertificate(fg, "dev-1", asn1UtcTime(now - DAY), asn1UtcTime(now + DAY));
      const unknownDevice = await signerIssuedCertificate(fg, "dev-8");
      certs.push(sameCn, unknownDevice);
      for (const cert of [sameCn, unknownDevice]) {
        await expect(connectDevice(fg, cert)).rejects.toMatchObject({
          code: 5,
          message: "Connection refused: Not authorized",
        });
        const cli = await runCli("mosquitto_pub", [
          ...mosquittoArgs(fg, cert),
          "-i",
          cert.id,
          "-t",
          `devices/${cert.id}/telemetry`,
          "-m",
          "x",
        ]);
        expect(cli).toMatchObject({
          code: 5,
          stderr: "Connection error: Connection Refused: not authorised.\nError: The connection was refused.\n",
        });
        const refusals = await waitForLogs(
          fg,
          {
            msg: "connection refused",
            reason: "certificate_not_active",
            detail: `serial ${cert.serial} of ${cert.id}`,
          },
          2,
        );
        expect(refusals.every((line) => line["returnCode"] === 5)).toBe(true);
      }
      expect(telemetry.map((m) => m.payload)).not.toContain("x");
    });

    it("a client id other than the CN: CONNACK 2 (identifier rejected)", async () => {
      for (const id of ["dev-2", "DEV-1", "dev-1 "]) {
        await expect(connectDevice(fg, { ...dev1, id })).rejects.toMatchObject({
          code: 2,
          message: "Connection refused: Identifier rejected",
        });
      }
      const cli = await runCli("mosquitto_pub", [
        ...mosquittoArgs(fg, dev1),
        "-i",
        "dev-2",
        "-t",
        "devices/dev-1/telemetry",
        "-m",
        "x",
      ]);
      expect(cli).toMatchObject({
        code: 2,
        stderr: "Connection error: Connection Refused: identifier rejected.\nError: The connection was refused.\n",
      });
      await waitForLogs(
        fg,
        {
          msg: "connection refused",
          reason: "client_id_mismatch",
          returnCode: 2,
          detail: 'client id "dev-2" ≠ CN dev-1',
        },
        2,
      );
    });

    it("an empty client id with CleanSession=1 is admitted as the CN (MQTT.js and mosquitto_pub without -i)", async () => {
      const device = await connect(dev1, { clientId: "" });
      expect(liveClient("dev-1")).toBeDefined();
      const command = nextMessage(device);
      await device.subscribeAsync("devices/dev-1/commands/#", { qos: 1 });
      await service.publishAsync("devices/dev-1/commands/y", "for-the-cn", { qos: 1 });
      expect(await command).toEqual({ topic: "devices/dev-1/commands/y", payload: "for-the-cn" });
      await device.endAsync();

      const cli = await runCli("mosquitto_pub", [
        ...mosquittoArgs(fg, dev1),
        "-d",
        "-q",
        "1",
        "-t",
        "devices/dev-1/telemetry",
        "-m",
        "no-id",
      ]);
      expect(cli.code).toBe(0);
      expect(cli.stdout).toContain("Client (null) sending CONNECT");
      expect(cli.stdout).toContain("Client (null) received CONNACK (0)");
      expect(await serviceReceives("no-id")).toContain("devices/dev-1/telemetry no-id");
    });

    it("an empty client id with CleanSession=0: CONNACK 2 (sent byte by byte; MQTT.js and mosquitto refuse to send it)", async () => {
      const answer = await rawExchange(fg, dev1, connectPacket("", { clean: false }));
      expect(answer.received.toString("hex")).toBe("20020002");
      expect(answer.closed).toBe(true);
      await waitForLogs(fg, { msg: "connection refused", reason: "client_id_empty_persistent", returnCode: 2 });
    });

    it("an MQTT 5 CONNECT: CONNACK with return code 1, connection closed", async () => {
      const before = await metricValue(fg, "fleetgate_mqtt_refusals_total", { reason: "protocol_not_supported" });
      await expect(connectDevice(fg, dev1, { protocolVersion: 5 })).rejects.toMatchObject({
        code: 1,
        message: "Connection refused: Unacceptable protocol version",
      });

      // libmosquitto in v5 mode reads a 3.1.1-style return code 1 as reason code 0x84 (132).
      const cli = await runCli("mosquitto_pub", [
        ...mosquittoArgs(fg, dev1, { version: "mqttv5" }),
        "-d",
        "-i",
        "dev-1",
        "-t",
        "devices/dev-1/telemetry",
        "-m",
        "v5",
      ]);
      expect(cli.code).toBe(132);
      expect(cli.stdout).toContain("Client dev-1 received CONNACK (132)");
      expect(cli.stderr).toContain(
        "Connection error: Unsupported Protocol Version. Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.",
      );

      // On the wire: CONNECT level 5 (property length 0, client id dev-1) → 20 02 00 01, then close.
      const v5Connect = Buffer.from("101200044d5154540502003c0000056465762d31", "hex");
      const answer = await rawExchange(fg, dev1, v5Connect);
      expect(answer.received.toString("hex")).toBe("20020001");
      expect(answer.closed).toBe(true);

      await waitForLogs(
        fg,
        { msg: "connection refused", reason: "protocol_not_supported", returnCode: 1, detail: "protocol version 5" },
        3,
      );
      expect(await metricValue(fg, "fleetgate_mqtt_refusals_total", { reason: "protocol_not_supported" })).toBe(
        before + 3,
      );
      expect(telemetry.map((m) => m.payload)).not.toContain("v5");
    });

    it("username and password are ignored: dev-1 calling itself svc-1 keeps a device's rights", async () => {
      const device = await connect(dev1, { username: "svc-1", password: "anything" });
      expect(await subackCodes(device, ["devices/+/telemetry/#", "devices/dev-1/commands/#"], 1)).toEqual([128, 1]);
      const gone = closed(device);
      device.publish("devices/dev-2/commands/x", "as-service", { qos: 0 });
      await gone;
      await waitForLogs(fg, {
        msg: "denied",
        deviceId: "dev-1",
        reason: "publish_not_permitted",
        topic: "devices/dev-2/commands/x",
      });

      const cli = await runCli("mosquitto_sub", [
        ...mosquittoArgs(fg, dev1),
        "-d",
        "-u",
        "svc-1",
        "-P",
        "anything",
        "-i",
        "dev-1",
        "-t",
        "devices/+/telemetry/#",
      ]);
      expect(cli.stdout).toContain("Subscribed (mid: 1): 128");
      expect(cli.stderr).toBe("All subscription requests were denied.\n");
    });
  });
});
