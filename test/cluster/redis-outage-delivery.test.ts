import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterUnavailable, startTestCluster, type TestCluster } from "../helpers/cluster.js";
import { connectDevice, enrollDevice, type EnrolledDevice } from "../helpers/devices.js";
import { eventually } from "../helpers/mqtt-kit.js";
import { PrivateRedis } from "../helpers/redis-server.js";

const unavailable = await clusterUnavailable();
const suite = (name: string) => (unavailable === null ? name : `${name} (skipped: ${unavailable})`);

/** What MQTT clients live through while Redis (fan-out and MQTT state) is away, and after it returns. */
describe.skipIf(unavailable !== null)(suite("cluster: MQTT through a Redis outage"), { timeout: 90_000 }, () => {
  let redis: PrivateRedis;
  let cluster: TestCluster;
  const clients: MqttClient[] = [];
  const devices: EnrolledDevice[] = [];
  beforeAll(async () => {
    redis = await PrivateRedis.start();
    cluster = await startTestCluster(["node-a", "node-b"], { redisUrl: redis.url });
  });
  afterAll(async () => {
    for (const client of clients) client.end(true);
    for (const device of devices) device.cleanup();
    await redis?.startAgain().catch(() => undefined);
    await cluster?.close();
    await redis?.stop();
  });
  async function online(via: number, id: string, profile = "device"): Promise<MqttClient> {
    const enrolled = await enrollDevice(cluster.nodes[via]!, id, profile);
    devices.push(enrolled);
    const client = await connectDevice(cluster.nodes[via]!, enrolled, { reconnectPeriod: 0 });
    clients.push(client);
    return client;
  }

  it("keeps clients connected while Redis is down and delivers across nodes again once it is back", async () => {
    const device = await online(0, "ro-dev-1");
    const local = await online(0, "ro-svc-a", "service");
    const remote = await online(1, "ro-svc-b", "service");
    const seen = { local: [] as string[], remote: [] as string[] };
    local.on("message", (_t, p) => seen.local.push(p.toString()));
    remote.on("message", (_t, p) => seen.remote.push(p.toString()));
    await local.subscribeAsync("devices/+/telemetry/#", { qos: 1 });
    await remote.subscribeAsync("devices/+/telemetry/#", { qos: 1 });
    await device.publishAsync("devices/ro-dev-1/telemetry", "before", { qos: 1 });
    await eventually(async () => seen.local.includes("before") && seen.remote.includes("before"), "before");

    await redis.stop();
    // Held in the node's memory until Redis is back (ioredis's offline queue; README "Running a cluster").
    const held = device.publishAsync("devices/ro-dev-1/telemetry", "during-1", { qos: 1 });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    // Nothing is delivered meanwhile, not even on the publisher's own node: every publish passes through Redis.
    expect({ local: seen.local, remote: seen.remote }).toEqual({ local: ["before"], remote: ["before"] });
    expect(clients.map((client) => client.connected)).toEqual([true, true, true]);

    await redis.startAgain();
    await held;
    await eventually(
      async () => {
        device.publish("devices/ro-dev-1/telemetry", "after", { qos: 0 });
        return seen.local.includes("after") && seen.remote.includes("after");
      },
      "delivery on both nodes again",
      20_000,
    );
  });
});
