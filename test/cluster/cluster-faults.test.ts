import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revokeDevice } from "../../src/app/revoke-device.js";
import { clusterUnavailable, startTestCluster, type TestCluster } from "../helpers/cluster.js";
import { connectDevice, enrollDevice, type EnrolledDevice } from "../helpers/devices.js";
import { httpGet, postJson } from "../helpers/https.js";
import { eventually } from "../helpers/mqtt-kit.js";
import { opensslCsr } from "../helpers/fleetgate.js";
import { PrivateRedis } from "../helpers/redis-server.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";

const unavailable = await clusterUnavailable();
const suite = (name: string) => (unavailable === null ? name : `${name} (skipped: ${unavailable})`);

async function health(cluster: TestCluster, i: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await httpGet(cluster.nodes[i]!.running.ports.metrics, "/healthz");
  return { status: res.status, body: JSON.parse(res.body) as Record<string, unknown> };
}

describe.skipIf(unavailable !== null)(suite("cluster faults: Redis goes away"), { timeout: 90_000 }, () => {
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

  it("answers /healthz 503 while Redis is down, kicks revoked devices through the registry, and recovers by itself", async () => {
    const dev = await enrollDevice(cluster.nodes[0]!, "fault-dev-1");
    devices.push(dev);
    const device = await connectDevice(cluster.nodes[1]!, dev);
    clients.push(device);
    expect((await health(cluster, 1)).status).toBe(200);

    await redis.stop();
    await eventually(async () => (await health(cluster, 1)).status === 503, "node B unhealthy");
    expect((await health(cluster, 1)).body).toMatchObject({
      status: "unavailable",
      redis: expect.stringMatching(/^unavailable/),
    });

    // The fan-out cannot reach node B; its revocation feed (PostgreSQL) still does.
    const gone = new Promise<void>((resolve) => device.once("close", () => resolve()));
    const started = Date.now();
    const result = await revokeDevice(cluster.nodes[0]!.running.revocation, dev.id, "keyCompromise", "test");
    expect(result.sessionsClosedByNode["node-a"]).toBe(0);
    await gone;
    expect(Date.now() - started).toBeLessThan(5000);

    await redis.startAgain();
    await eventually(async () => (await health(cluster, 1)).status === 200, "node B healthy again", 20_000);
    expect(cluster.nodes[1]!.logs.lines.some((l) => l["msg"] === "redis operation failed")).toBe(true);
  });
});

describe.skipIf(unavailable !== null)(suite("cluster faults: PostgreSQL goes away"), { timeout: 90_000 }, () => {
  let proxy: TcpProxy;
  let cluster: TestCluster;
  const devices: EnrolledDevice[] = [];
  beforeAll(async () => {
    proxy = await TcpProxy.start("127.0.0.1", 5432);
    cluster = await startTestCluster(["node-a"], { postgresUrl: `postgres://postgres@127.0.0.1:${proxy.port}/test` });
  });
  afterAll(async () => {
    for (const device of devices) device.cleanup();
    proxy?.restore();
    await cluster?.close();
    await proxy?.close();
  });

  it("refuses enrollment with 503 + Retry-After and admission with CONNACK 3, then recovers without a restart", async () => {
    const node = cluster.nodes[0]!;
    const dev = await enrollDevice(node, "fault-dev-2");
    devices.push(dev);
    const token = await node.token({ deviceId: "fault-dev-3" });
    proxy.cut();

    const refused = await postJson(
      node.enrollUrl,
      "/v1/enroll",
      { token, csr: opensslCsr("/CN=fault-dev-3").csrPem },
      node.rootCaPem,
    );
    expect(refused.status).toBe(503);
    expect(refused.json()).toMatchObject({ code: "unavailable" });
    expect(refused.headers["retry-after"]).toBe("2");
    await expect(connectDevice(node, dev)).rejects.toMatchObject({ code: 3 });
    await eventually(async () => (await health(cluster, 0)).status === 503, "unhealthy without its registry", 20_000);

    proxy.restore();
    const enrolled = await postJson(
      node.enrollUrl,
      "/v1/enroll",
      { token, csr: opensslCsr("/CN=fault-dev-3").csrPem },
      node.rootCaPem,
    );
    expect(enrolled.status).toBe(201);
    const client = await connectDevice(node, dev);
    client.end(true);
  });
});
