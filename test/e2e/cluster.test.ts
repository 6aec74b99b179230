import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanRedis, clusterUnavailable, REDIS_URL } from "../helpers/cluster.js";
import { killChildren, runCli, spawnTracked, type Spawned } from "../helpers/cli.js";
import { opensslCsr } from "../helpers/fleetgate.js";
import { postJson } from "../helpers/https.js";
import * as mq from "../helpers/mqtt-bytes.js";
import { eventually } from "../helpers/mqtt-kit.js";
import { connectMqtts, type DeviceCredentials } from "../helpers/mqtts-connect.js";
import { POSTGRES_URL, schemaFamily } from "../helpers/postgres.js";

const unavailable = await clusterUnavailable();
const CLI = ["--import", "tsx", "src/adapters/cli/main.ts"];

interface Node {
  readonly id: string;
  process: Spawned;
  ports: Record<string, number>;
}

/**
 * Three `fleetgate serve` processes on one host sharing a data dir, one PostgreSQL schema and one Redis
 * key prefix; the CLI and real MQTT clients talk to them as an operator and a fleet would.
 */
describe.skipIf(unavailable !== null)(
  unavailable === null ? "e2e: a three-node cluster" : `e2e: a three-node cluster (skipped: ${unavailable})`,
  { timeout: 120_000 },
  () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-e2e-cluster-"));
    const schemas = schemaFamily("e2e");
    const registry = `${POSTGRES_URL}?schema=${schemas.next()}`;
    const keyPrefix = `fge2e-${randomBytes(4).toString("hex")}`;
    const nodes: Node[] = [];
    const clients: MqttClient[] = [];
    const rootCa = () => readFileSync(join(dataDir, "pki", "root-ca.crt"), "utf8");
    const env = { FLEETGATE_LOG_LEVEL: "warn" };

    async function startNode(id: string): Promise<Node> {
      const ports = [
        "--enroll-port",
        "0",
        "--mqtt-port",
        "0",
        "--pki-port",
        "0",
        "--admin-port",
        "0",
        "--metrics-port",
        "0",
      ];
      const args = [
        ...CLI,
        "serve",
        "--data",
        dataDir,
        "--registry",
        registry,
        "--redis",
        REDIS_URL,
        "--node-id",
        id,
        // One process per node here (with Redis, serve would otherwise fork one worker per core).
        "--workers",
        "1",
        ...ports,
      ];
      // A node lives for the whole suite (spawnTracked's default would kill it after 30 s).
      const child = spawnTracked(process.execPath, args, {
        env: { ...env, FLEETGATE_CLUSTER_KEY_PREFIX: keyPrefix },
        timeoutMs: 600_000,
      });
      const runtime = join(dataDir, "run", `${id}.json`);
      await eventually(() => existsSync(runtime) && child.exitedAt() === null, `node ${id} serving`, 60_000);
      const info = JSON.parse(readFileSync(runtime, "utf8")) as { ports: Record<string, number> };
      return { id, process: child, ports: info.ports };
    }
    const cli = (node: Node, ...args: string[]) => runCli({ dataDir }, [...args, "--node", node.id]);

    async function enrollThrough(node: Node, id: string, profile = "device") {
      const token = (await cli(node, "token", "create", "--device", id, "--profile", profile)).stdout.trim();
      const { csrPem, keyPem } = opensslCsr(`/CN=${id}`);
      const res = await postJson(
        `https://localhost:${node.ports["enroll"]}`,
        "/v1/enroll",
        { token, csr: csrPem },
        rootCa(),
      );
      if (res.status !== 201) throw new Error(`enroll ${id}: ${res.status} ${res.body}`);
      return { id, certPem: res.json<{ certificate: string }>().certificate, keyPem };
    }

    function connect(node: Node, device: DeviceCredentials, extra: mqtt.IClientOptions = {}) {
      return connectMqtts(node.ports["mqtt"], device, rootCa(), clients, extra);
    }

    beforeAll(async () => {
      const init = await runCli({ dataDir }, ["init", "--registry", registry], env);
      expect(init.code, init.stderr).toBe(0);
      for (const id of ["n1", "n2", "n3"]) nodes.push(await startNode(id));
    });
    afterAll(async () => {
      for (const client of clients) client.end(true);
      await killChildren();
      await cleanRedis(REDIS_URL, keyPrefix);
      await schemas.dropAll();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it("enrolls through node 1, carries telemetry from node 2 to a consumer on node 3, lists the session with its node", async () => {
      const [n1, n2, n3] = nodes as [Node, Node, Node];
      const device = await enrollThrough(n1, "e2e-dev-1");
      const service = await enrollThrough(n1, "e2e-svc-1", "service");
      const consumer = await connect(n3, service);
      await consumer.subscribeAsync("devices/+/telemetry/#", { qos: 1 });
      const got = new Promise<string>((resolve) =>
        consumer.once("message", (_t, payload) => resolve(payload.toString())),
      );
      const client = await connect(n2, device);
      await client.publishAsync("devices/e2e-dev-1/telemetry", "42", { qos: 1 });
      expect(await got).toBe("42");
      const listed = await cli(n1, "device", "list", "--online", "--json");
      const online = JSON.parse(listed.stdout) as { id: string; sessions: { node: string }[] }[];
      expect(online.find((d) => d.id === "e2e-dev-1")?.sessions.map((s) => s.node)).toEqual(["n2"]);
    });

    it("revokes through node 3: the device's session on node 2 closes, and the CLI says where", async () => {
      const [n1, n2, n3] = nodes as [Node, Node, Node];
      const device = await enrollThrough(n1, "e2e-dev-2");
      const client = await connect(n2, device);
      const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
      const revoked = await cli(n3, "device", "revoke", "e2e-dev-2", "--reason", "keyCompromise", "--json");
      expect(revoked.code, revoked.stderr).toBe(0);
      await closed;
      expect(JSON.parse(revoked.stdout)).toMatchObject({
        sessionsClosed: 1,
        sessionsClosedByNode: { n1: 0, n2: 1, n3: 0 },
      });
      await expect(connect(n1, device)).rejects.toThrow();
    });

    it("keeps one connection when one client id connects to two nodes at once", async () => {
      const [n1, , n3] = nodes as [Node, Node, Node];
      const device = await enrollThrough(n1, "e2e-dev-3");
      for (let round = 0; round < 5; round++) {
        const racers = (await Promise.allSettled([connect(n1, device), connect(n3, device)])).flatMap((r) =>
          r.status === "fulfilled" ? [r.value] : [],
        );
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(
          racers.filter((c) => c.connected),
          `round ${round}`,
        ).toHaveLength(1);
        for (const c of racers) c.end(true);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    });

    it("after kill -9 of node 2, its persistent device reconnects to node 1 and gets what was queued meanwhile", async () => {
      const [n1, n2, n3] = nodes as [Node, Node, Node];
      const device = await enrollThrough(n1, "e2e-dev-4");
      const service = await enrollThrough(n1, "e2e-svc-4", "service");
      const first = await connect(n2, device, { clean: false });
      await first.subscribeAsync("devices/e2e-dev-4/commands/#", { qos: 1 });
      const lost = new Promise<void>((resolve) => first.once("close", () => resolve()));
      await n2.process.kill("SIGKILL");
      await lost;
      const commander = await connect(n3, service);
      for (const n of [1, 2, 3])
        await commander.publishAsync(`devices/e2e-dev-4/commands/c${n}`, `cmd-${n}`, { qos: 1 });
      const received: string[] = [];
      const moved = await connect(n1, device, { clean: false });
      moved.on("message", (_topic, payload) => received.push(payload.toString()));
      await eventually(() => received.length >= 3, "the commands queued while node 2 was dead");
      expect(received.slice(0, 3)).toEqual(["cmd-1", "cmd-2", "cmd-3"]);
      // Node 2 comes back on the same data dir (its lock died with it) and rejoins.
      nodes[1] = await startNode("n2");
    });

    it("a device's TLS session from one node resumes on another (separate processes, shared ticket keys)", async () => {
      // Nodes 1 and 3: node 2 was just restarted by the test above (its runtime file may still be the old one's).
      const [n1, , n3] = nodes as [Node, Node, Node];
      const device = await enrollThrough(n1, "e2e-dev-5");
      /** CONNECT over a new TLS 1.3 connection to `node`, offering `session`; CONNACK code, resumed, next session. */
      const connectOnce = async (node: Node, session?: Buffer) => {
        const wire = await mq.openTls({ rootCaPem: rootCa() }, node.ports["mqtt"]!, device, { session });
        const reused = wire.socket.isSessionReused();
        wire.send(mq.connect({ clientId: device.id, clean: true }));
        await wire.waitFor((r) => mq.connackCode(r) !== null, "CONNACK");
        const code = mq.connackCode(wire.received());
        wire.send(mq.DISCONNECT);
        await wire.closed;
        return { code, reused, session: wire.session() };
      };
      const first = await connectOnce(n1);
      expect({ code: first.code, reused: first.reused }).toEqual({ code: 0, reused: false });
      const onN3 = await connectOnce(n3, first.session);
      expect({ code: onN3.code, reused: onN3.reused }).toEqual({ code: 0, reused: true });
      // (A resumed TLS 1.3 handshake need not bring a new ticket: the device keeps offering the one it has.)
      const backOnN1 = await connectOnce(n1, onN3.session ?? first.session);
      expect({ code: backOnN1.code, reused: backOnN1.reused }).toEqual({ code: 0, reused: true });
      // Revoked through node 3: resuming on node 1 still goes through admission, and is refused.
      const revoked = await cli(n3, "device", "revoke", device.id, "--reason", "keyCompromise");
      expect(revoked.code, revoked.stderr).toBe(0);
      const refused = await connectOnce(n1, backOnN1.session ?? onN3.session ?? first.session);
      expect({ code: refused.code, reused: refused.reused }).toEqual({ code: 5, reused: true });
    });
  },
);
