import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revokeDevice } from "../../src/app/revoke-device.js";
import type { EventBus } from "../../src/ports.js";
import { clusterUnavailable, startTestCluster, type TestCluster } from "../helpers/cluster.js";
import { connectDevice, enrollDevice, nextMessage, type EnrolledDevice } from "../helpers/devices.js";
import { eventually } from "../helpers/mqtt-kit.js";

const unavailable = await clusterUnavailable();

/** Three nodes on one PostgreSQL registry and one Redis, in this process (the e2e test uses processes). */
describe.skipIf(unavailable !== null)(
  unavailable === null ? "cluster: three nodes" : `cluster: three nodes (skipped: ${unavailable})`,
  { timeout: 60_000 },
  () => {
    let cluster: TestCluster;
    const clients: MqttClient[] = [];
    const devices: EnrolledDevice[] = [];
    beforeAll(async () => {
      cluster = await startTestCluster(["node-a", "node-b", "node-c"]);
    });
    afterAll(async () => {
      for (const client of clients) client.end(true);
      for (const device of devices) device.cleanup();
      await cluster?.close();
    });
    const node = (i: number) => cluster.nodes[i]!;
    async function enrolled(id: string, via: number, profile = "device"): Promise<EnrolledDevice> {
      const device = await enrollDevice(node(via), id, profile);
      devices.push(device);
      return device;
    }
    async function online(via: number, device: EnrolledDevice, extra = {}): Promise<MqttClient> {
      const client = await connectDevice(node(via), device, extra);
      clients.push(client);
      return client;
    }

    it("delivers a device's QoS 1 telemetry on node A to a service subscribed on node B", async () => {
      const dev = await enrolled("cl-dev-1", 0);
      const svc = await enrolled("cl-svc-1", 2, "service");
      const service = await online(1, svc);
      await service.subscribeAsync("devices/+/telemetry/#", { qos: 1 });
      const device = await online(0, dev);
      const got = nextMessage(service);
      await device.publishAsync("devices/cl-dev-1/telemetry", "21.5", { qos: 1 });
      expect(await got).toEqual({ topic: "devices/cl-dev-1/telemetry", payload: "21.5" });
    });

    it("revoking through node C closes the device's session on node B and reports it per node", async () => {
      const dev = await enrolled("cl-dev-2", 0);
      const device = await online(1, dev);
      const gone = new Promise<void>((resolve) => device.once("close", () => resolve()));
      const result = await revokeDevice(node(2).running.revocation, "cl-dev-2", "keyCompromise", "test");
      await gone;
      expect(result.sessionsClosed).toBe(1);
      expect(result.sessionsClosedByNode).toEqual({ "node-a": 0, "node-b": 1, "node-c": 0 });
      expect(result.nodesCatchingUp).toEqual([]);
      await expect(connectDevice(node(0), dev)).rejects.toThrow();
    });

    it("lists a device's live session on every node with the node that holds it", async () => {
      const dev = await enrolled("cl-dev-3", 1);
      await online(2, dev);
      for (const i of [0, 1, 2]) {
        await eventually(
          async () => (await node(i).running.sessions.sessionsOf("cl-dev-3")).length === 1,
          `node ${i} sees the session`,
        );
        expect((await node(i).running.sessions.sessionsOf("cl-dev-3"))[0]).toMatchObject({
          node: "node-c",
          deviceId: "cl-dev-3",
        });
      }
    });

    it("takes over a client id across nodes [MQTT-3.1.4-2]: the older connection closes within a second", async () => {
      const dev = await enrolled("cl-dev-4", 0);
      const first = await online(0, dev);
      const closedAt = new Promise<number>((resolve) => first.once("close", () => resolve(Date.now())));
      const second = await online(1, dev);
      const connectedAt = Date.now();
      expect((await closedAt) - connectedAt).toBeLessThan(1000);
      expect(second.connected).toBe(true);
      await eventually(
        async () => (await node(2).running.sessions.sessionsOf("cl-dev-4")).length === 1,
        "one session left",
      );
    });

    it("keeps exactly one connection when the same client id connects to two nodes at the same instant", async () => {
      const dev = await enrolled("cl-dev-5", 0);
      for (let round = 0; round < 10; round++) {
        const racers = await Promise.allSettled([0, 1].map((i) => online(i, dev)));
        const admitted = racers.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
        await eventually(async () => admitted.filter((c) => c.connected).length <= 1, "at most one survivor");
        await new Promise((resolve) => setTimeout(resolve, 200)); // let every announcement land
        const survivors = admitted.filter((c) => c.connected);
        expect(survivors, `round ${round}`).toHaveLength(1);
        const sessions = await node(2).running.sessions.sessionsOf("cl-dev-5");
        expect(sessions, `round ${round}`).toHaveLength(1);
        for (const client of admitted) client.end(true);
        await eventually(async () => (await node(2).running.sessions.sessionsOf("cl-dev-5")).length === 0, "all gone");
      }
    });

    it("serves a message retained through node A to a subscriber on node B", async () => {
      const dev = await enrolled("cl-dev-6", 0);
      const svc = await enrolled("cl-svc-6", 0, "service");
      const device = await online(0, dev);
      await device.publishAsync("devices/cl-dev-6/state", "on", { qos: 1, retain: true });
      const service = await online(1, svc);
      const got = nextMessage(service);
      await service.subscribeAsync("devices/cl-dev-6/state", { qos: 1 });
      expect(await got).toEqual({ topic: "devices/cl-dev-6/state", payload: "on" });
    });

    it("delivers queued QoS 1 messages of a persistent session that moves from node A to node B", async () => {
      const dev = await enrolled("cl-dev-7", 0);
      const svc = await enrolled("cl-svc-7", 0, "service");
      const first = await online(0, dev, { clean: false });
      await first.subscribeAsync("devices/cl-dev-7/commands/#", { qos: 1 });
      first.end(true);
      await eventually(async () => (await node(2).running.sessions.sessionsOf("cl-dev-7")).length === 0, "offline");
      const service = await online(2, svc);
      for (const n of [1, 2, 3]) await service.publishAsync(`devices/cl-dev-7/commands/c${n}`, `cmd-${n}`, { qos: 1 });
      const received: string[] = [];
      const moved = await online(1, dev, { clean: false });
      moved.on("message", (_topic, payload) => received.push(payload.toString()));
      await eventually(async () => received.length >= 3, "the queued commands");
      expect(received.slice(0, 3)).toEqual(["cmd-1", "cmd-2", "cmd-3"]);
    });

    it("kicks on a node that never heard the fan-out: it reads the revocation back from the registry", async () => {
      const dev = await enrolled("cl-dev-8", 0);
      const device = await online(1, dev);
      const gone = new Promise<void>((resolve) => device.once("close", () => resolve()));
      // A revocation committed by something that publishes to nobody: only the registry knows.
      const silentBus: EventBus = {
        publishRevocation: async () => ({ sessionsClosed: 0, byNode: {}, unanswered: [] }),
        onRevocation: () => undefined,
        replay: async () => undefined,
        publish: () => undefined,
        subscribe: () => () => undefined,
      };
      const silent = { ...node(0).running.revocation, bus: silentBus };
      const started = Date.now();
      await revokeDevice(silent, "cl-dev-8", "keyCompromise", "test");
      await gone;
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it("serves the same CRL bytes for the same number on every node after a revocation", async () => {
      const dev = await enrolled("cl-dev-9", 0);
      await revokeDevice(node(1).running.revocation, dev.id, "cessationOfOperation", "test");
      const number = node(1).running.crl.crlNumber;
      for (const i of [0, 2])
        await eventually(async () => node(i).running.crl.crlNumber === number, `node ${i} adopts CRL ${number}`);
      const bytes = [0, 1, 2].map((i) => Buffer.from(node(i).running.crl.der).toString("hex"));
      expect(new Set(bytes).size).toBe(1);
    });
  },
);
