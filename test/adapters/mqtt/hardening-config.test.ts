import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../../src/config.js";
import { killChildren, runCli } from "../../helpers/cli.js";
import { connectDevice, enrollDevice, type EnrolledDevice } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { metricValue, waitForLogs } from "../../helpers/mqtt-kit.js";

/*
 * Hardening, breaks 7(b)-(d).
 *  - An ACL template that is not a valid topic filter for every CN (`a/#/b`, `devices/{cn}+`) is refused
 *    at start-up naming its key. Pre-fix (2cd67a4 acl.ts instantiate), it was found per connection
 *    and every client of the role got CONNACK 3.
 *  - A template reaching `$` topics is refused at start-up: those are the broker's own. Pre-fix, a role
 *    with `$fleetgate/#` received every dropped publish (re-addressed to `$fleetgate/dropped/<id>`).
 *  - keep-alive 0 (no keep-alive: a dead session lives for ever) is refused by default
 *    (mqtt.keepalive.min 5, CONNACK 5, keepalive_out_of_bounds); `keepalive.min: 0` allows it again.
 *    Pre-fix the default minimum was 0.
 */

describe("ACL templates in the configuration", () => {
  const refused = (acl: Record<string, { publish: string[]; subscribe: string[] }>) => {
    try {
      parseConfig({ acl });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error("accepted");
  };

  it("refuses a template that is not a valid filter, naming the key", () => {
    expect(refused({ gateway: { publish: ["gateways/{cn}/up", "a/#/b"], subscribe: [] } })).toContain(
      `acl.gateway.publish.1: ACL template "a/#/b": not a valid topic filter ('#' is not the last level)`,
    );
    expect(refused({ gateway: { publish: [], subscribe: ["devices/{cn}+"] } })).toContain(
      `acl.gateway.subscribe.0: ACL template "devices/{cn}+": not a valid topic filter ('+' does not occupy a whole level)`,
    );
    expect(refused({ device: { publish: [""], subscribe: [] } })).toContain("acl.device.publish.0");
  });

  it("refuses a template reaching '$' topics", () => {
    for (const template of ["$SYS/#", "$fleetgate/dropped/+", "${cn}/x"]) {
      expect(refused({ spy: { publish: [], subscribe: [template] } })).toContain(
        `acl.spy.subscribe.0: ACL template ${JSON.stringify(template)}: '$' topics are reserved for the broker`,
      );
    }
    // '#' and '+/…' do not reach '$' topics [MQTT-4.7.2-1]: a role may hold them.
    expect(parseConfig({ acl: { archiver: { publish: [], subscribe: ["#", "+/x"] } } }).acl["archiver"]).toEqual({
      publish: [],
      subscribe: ["#", "+/x"],
    });
  });

  it("keepalive bounds: each has its default; min above max is refused", () => {
    expect(parseConfig({}).mqtt.keepalive).toEqual({ min: 5, max: 3600 });
    expect(parseConfig({ mqtt: { keepalive: { min: 0 } } }).mqtt.keepalive).toEqual({ min: 0, max: 3600 });
    expect(() => parseConfig({ mqtt: { keepalive: { min: 60, max: 30 } } })).toThrow(
      "mqtt.keepalive: min must not be above max",
    );
  });
});

describe("fleetgate serve with an invalid ACL template in fleetgate.json", { timeout: 60_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-badacl-"));
  afterAll(async () => {
    await killChildren();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it.each([
    ["a/#/b", `acl.gateway.publish.0: ACL template "a/#/b": not a valid topic filter ('#' is not the last level)`],
    ["$SYS/#", `acl.gateway.publish.0: ACL template "$SYS/#": '$' topics are reserved for the broker`],
  ])("exits 2 before listening, naming the key (%s)", async (template, expected) => {
    writeFileSync(
      join(dataDir, "fleetgate.json"),
      JSON.stringify({ acl: { gateway: { publish: [template], subscribe: [] } } }),
    );
    const ports = ["--enroll-port", "--mqtt-port", "--metrics-port", "--admin-port", "--pki-port"].flatMap((f) => [
      f,
      "0",
    ]);
    const result = await runCli({ dataDir }, ["serve", ...ports]);
    expect({ code: result.code, killed: result.killedOnTimeout }).toEqual({ code: 2, killed: false });
    expect(result.stderr).toContain("fleetgate: invalid configuration:");
    expect(result.stderr).toContain(expected);
  });
});

describe("mqtt.keepalive", () => {
  let strict: TestFleetgate;
  let lenient: TestFleetgate;
  let devices: EnrolledDevice[];
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    strict = await startTestFleetgate();
    lenient = await startTestFleetgate({ mqtt: { host: "127.0.0.1", port: 0, keepalive: { min: 0 } } });
    devices = [await enrollDevice(strict, "dev-1"), await enrollDevice(lenient, "dev-1")];
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await strict?.close();
    await lenient?.close();
    for (const device of devices ?? []) device.cleanup();
  });

  it("by default refuses keep-alive 0 and 4 with CONNACK 5 (keepalive_out_of_bounds), admits 5", async () => {
    for (const keepalive of [0, 4]) {
      await expect(connectDevice(strict, devices[0]!, { keepalive })).rejects.toMatchObject({ code: 5 });
    }
    expect(await metricValue(strict, "fleetgate_mqtt_refusals_total", { reason: "keepalive_out_of_bounds" })).toBe(2);
    await waitForLogs(strict, {
      msg: "connection refused",
      reason: "keepalive_out_of_bounds",
      detail: "keepalive 0s outside 5-3600",
    });
    const client = await connectDevice(strict, devices[0]!, { keepalive: 5 });
    clients.push(client);
    expect(client.connected).toBe(true);
  });

  it("admits keep-alive 0 with mqtt.keepalive.min 0", async () => {
    const client = await connectDevice(lenient, devices[1]!, { keepalive: 0 });
    clients.push(client);
    await client.publishAsync("devices/dev-1/telemetry", "no keep-alive", { qos: 1 });
    expect(client.connected).toBe(true);
  });
});
