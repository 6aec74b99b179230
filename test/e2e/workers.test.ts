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
import { eventually } from "../helpers/mqtt-kit.js";
import { connectMqtts } from "../helpers/mqtts-connect.js";
import { POSTGRES_URL, schemaFamily } from "../helpers/postgres.js";

const unavailable = await clusterUnavailable();
const CLI = ["--import", "tsx", "src/adapters/cli/main.ts"];
const PORTS = ["enroll", "mqtt", "pki", "admin", "metrics"].flatMap((s) => [`--${s}-port`, "0"]);
const BASE = "wk";
const WORKERS = ["wk-w1", "wk-w2"];

interface Device {
  readonly id: string;
  readonly certPem: string;
  readonly keyPem: string;
}
interface Runtime {
  readonly pid: number;
  readonly ports: Record<string, number>;
}
type Online = { id: string; sessions: { node: string }[] }[];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * `fleetgate serve --workers 2` on PostgreSQL and Redis: one primary, two worker nodes sharing the MQTT,
 * enroll and PKI ports; real MQTT clients, the real CLI, kill -9 of a worker and SIGTERM of the primary.
 */
describe.skipIf(unavailable !== null)(
  unavailable === null ? "e2e: serve --workers 2" : `e2e: serve --workers 2 (skipped: ${unavailable})`,
  { timeout: 180_000 },
  () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-e2e-workers-"));
    const schemas = schemaFamily("e2ew");
    const registry = `${POSTGRES_URL}?schema=${schemas.next()}`;
    const keyPrefix = `fge2ew-${randomBytes(4).toString("hex")}`;
    const env = { FLEETGATE_LOG_LEVEL: "warn", FLEETGATE_CLUSTER_KEY_PREFIX: keyPrefix };
    const clients: MqttClient[] = [];
    const devices: Device[] = [];
    let primary: Spawned;
    let service: Device;
    const rootCa = () => readFileSync(join(dataDir, "pki", "root-ca.crt"), "utf8");
    const runtime = (node: string) => JSON.parse(readFileSync(join(dataDir, "run", `${node}.json`), "utf8")) as Runtime;
    const cli = (...args: string[]) => runCli({ dataDir }, args, env);
    /** `serve` flags against this suite's registry and Redis (runCli adds --data). */
    const serve = (nodeId: string, workers: number) => [
      "serve",
      "--registry",
      registry,
      "--redis",
      REDIS_URL,
      "--node-id",
      nodeId,
      "--workers",
      `${workers}`,
      ...PORTS,
    ];

    async function online(): Promise<Online> {
      const listed = await cli("device", "list", "--online", "--json");
      expect(listed.code, listed.stderr).toBe(0);
      return JSON.parse(listed.stdout) as Online;
    }
    const nodeOf = (list: Online, id: string) => list.find((d) => d.id === id)?.sessions[0]?.node;

    async function enroll(id: string, token: string): Promise<Device> {
      const { csrPem, keyPem } = opensslCsr(`/CN=${id}`);
      const url = `https://localhost:${runtime(WORKERS[0]!).ports["enroll"]}`;
      const res = await postJson(url, "/v1/enroll", { token, csr: csrPem }, rootCa());
      if (res.status !== 201) throw new Error(`enroll ${id}: ${res.status} ${res.body}`);
      return { id, certPem: res.json<{ certificate: string }>().certificate, keyPem };
    }

    function connect(device: Device, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
      return connectMqtts(runtime(WORKERS[0]!).ports["mqtt"], device, rootCa(), clients, extra);
    }

    beforeAll(async () => {
      const init = await runCli({ dataDir }, ["init", "--registry", registry], env);
      expect(init.code, init.stderr).toBe(0);
      // The primary lives for the whole suite (spawnTracked's default would kill it after 30 s).
      primary = spawnTracked(process.execPath, [...CLI, ...serve(BASE, 2), "--data", dataDir], {
        env,
        timeoutMs: 600_000,
      });
      const files = WORKERS.map((node) => join(dataDir, "run", `${node}.json`));
      await eventually(() => files.every((f) => existsSync(f)) && primary.exitedAt() === null, "2 workers", 90_000);
      const token = (await cli("token", "create", "--prefix", "wk-dev-", "--uses", "6")).stdout.split("\n")[0]!;
      for (let i = 1; i <= 6; i++) devices.push(await enroll(`wk-dev-${i}`, token.trim()));
      const svc = await cli("token", "create", "--device", "wk-svc", "--profile", "service");
      service = await enroll("wk-svc", svc.stdout.trim());
    }, 180_000); // two workers under tsx and seven enrollments through the CLI: slow on a busy machine
    afterAll(async () => {
      for (const client of clients) client.end(true);
      await killChildren();
      await cleanRedis(REDIS_URL, keyPrefix);
      await schemas.dropAll();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it("runs two nodes <id>-w1, <id>-w2 behind one MQTT and enroll port, with admin and metrics per worker", () => {
      const [w1, w2] = WORKERS.map(runtime) as [Runtime, Runtime];
      expect(w1.pid).not.toBe(w2.pid);
      expect(w1.pid).not.toBe(primary.child.pid);
      for (const shared of ["mqtt", "enroll", "pki"]) expect(w1.ports[shared]).toBe(w2.ports[shared]);
      for (const own of ["admin", "metrics"]) expect(w1.ports[own]).not.toBe(w2.ports[own]);
    });

    it("spreads MQTT clients over both workers and delivers from one worker to a subscriber on the other", async () => {
      const consumer = await connect(service);
      await consumer.subscribeAsync("devices/+/telemetry/#", { qos: 1 });
      for (const device of devices.slice(0, 4)) await connect(device);
      const list = await online();
      const nodes = new Set(list.flatMap((d) => d.sessions.map((s) => s.node)));
      expect([...nodes].sort()).toEqual(WORKERS);
      const consumerNode = nodeOf(list, "wk-svc");
      const remote = devices.slice(0, 4).find((d) => nodeOf(list, d.id) !== consumerNode)!;
      const got = new Promise<string>((resolve) =>
        consumer.on(
          "message",
          (topic, payload) => topic.startsWith(`devices/${remote.id}/`) && resolve(payload.toString()),
        ),
      );
      const publisher = clients.find((c) => c.options.clientId === remote.id)!;
      await publisher.publishAsync(`devices/${remote.id}/telemetry`, "across", { qos: 1 });
      expect(await got).toBe("across");
    });

    it("revokes a device on whichever worker holds it: its session closes, the CLI says where", async () => {
      const device = devices[4]!;
      const client = await connect(device);
      const node = nodeOf(await online(), device.id)!;
      const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
      const revoked = await cli("device", "revoke", device.id, "--reason", "keyCompromise", "--json");
      expect(revoked.code, revoked.stderr).toBe(0);
      await closed;
      const other = WORKERS.find((w) => w !== node)!;
      expect(JSON.parse(revoked.stdout)).toMatchObject({
        sessionsClosed: 1,
        sessionsClosedByNode: { [node]: 1, [other]: 0 },
      });
      await expect(connect(device)).rejects.toThrow();
    });

    it("restarts a worker killed with -9; its devices reconnect and deliver again", async () => {
      const list = await online();
      const victim = nodeOf(list, devices[0]!.id)!;
      const before = runtime(victim).pid;
      const onVictim = devices.slice(0, 4).filter((d) => nodeOf(list, d.id) === victim);
      const lost = onVictim.map((d) => {
        const client = clients.find((c) => c.options.clientId === d.id && c.connected)!;
        return new Promise<void>((resolve) => client.once("close", () => resolve()));
      });
      process.kill(before, "SIGKILL");
      await Promise.all(lost);
      await eventually(
        () => existsSync(join(dataDir, "run", `${victim}.json`)) && runtime(victim).pid !== before,
        "restart",
        60_000,
      );
      expect(alive(runtime(victim).pid)).toBe(true);
      await primary.waitForOutput("worker died; restarting it");
      for (const device of onVictim) await connect(device);
      const back = await online();
      for (const device of onVictim) expect(nodeOf(back, device.id), device.id).toMatch(/^wk-w[12]$/);
      // The consumer may have been on the killed worker as well: a fresh one checks delivery end to end.
      const consumer = await connect(service);
      await consumer.subscribeAsync(`devices/${onVictim[0]!.id}/telemetry`, { qos: 1 });
      const got = new Promise<string>((resolve) =>
        consumer.once("message", (_t, payload) => resolve(payload.toString())),
      );
      const publisher = clients.filter((c) => c.options.clientId === onVictim[0]!.id).at(-1)!;
      await publisher.publishAsync(`devices/${onVictim[0]!.id}/telemetry`, "after restart", { qos: 1 });
      expect(await got).toBe("after restart");
    });

    it("refuses a second serve on the same node id, and on a worker's node id", async () => {
      const again = await runCli({ dataDir }, serve(BASE, 2), env);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain(`run/${BASE}.lock`);
      const worker = await runCli({ dataDir }, serve("wk-w2", 1), env);
      expect(worker.code).toBe(1);
      expect(worker.stderr).toContain("run/wk-w2.lock");
    });

    it("passes SIGHUP to every worker: each reloads its PKI and audits it", async () => {
      const reloads = async () => {
        const listed = await cli("audit", "list", "--limit", "1000", "--json");
        expect(listed.code, listed.stderr).toBe(0);
        const entries = JSON.parse(listed.stdout) as { actor: string; action: string }[];
        return entries.filter((e) => e.action === "pki.reloaded" && e.actor === "signal:SIGHUP").length;
      };
      expect(await reloads()).toBe(0);
      process.kill(primary.child.pid!, "SIGHUP");
      await eventually(async () => (await reloads()) === 2, "a SIGHUP reload audited by both workers", 30_000);
      expect(primary.exitedAt()).toBeNull();
    });

    it("stops every worker on SIGTERM and exits 0, leaving no process and no runtime file", async () => {
      const pids = WORKERS.map((w) => runtime(w).pid);
      for (const client of clients) client.end(true);
      const result = await primary.kill("SIGTERM");
      expect(result.code, result.stderr).toBe(0);
      for (const pid of pids) expect(alive(pid), `worker ${pid}`).toBe(false);
      for (const w of WORKERS) expect(existsSync(join(dataDir, "run", `${w}.json`)), w).toBe(false);
    });

    it("refuses --workers 2 with a SQLite registry: exit 2 and what it needs", async () => {
      const sqliteDir = mkdtempSync(join(tmpdir(), "fleetgate-e2e-workers-sqlite-"));
      try {
        const refused = await runCli({ dataDir: sqliteDir }, ["serve", "--workers", "2", ...PORTS], env);
        expect(refused.code).toBe(2);
        expect(refused.stderr).toContain("cluster.workers: 2 workers need cluster mode");
        const withRedis = await runCli({ dataDir: sqliteDir }, ["serve", "--redis", REDIS_URL, "--workers", "2"], env);
        expect(withRedis.code).toBe(2);
        expect(withRedis.stderr).toContain("cluster mode needs a PostgreSQL registry");
        expect(existsSync(join(sqliteDir, "run"))).toBe(false);
      } finally {
        rmSync(sqliteDir, { recursive: true, force: true });
      }
    });
  },
);
