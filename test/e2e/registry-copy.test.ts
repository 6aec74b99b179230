import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killChildren, runCli, spawnTracked, type Spawned } from "../helpers/cli.js";
import { opensslCsr } from "../helpers/fleetgate.js";
import { postJson } from "../helpers/https.js";
import { eventually } from "../helpers/mqtt-kit.js";
import { connectMqtts } from "../helpers/mqtts-connect.js";
import { POSTGRES_URL, postgresSuiteName, postgresUnavailable, schemaFamily } from "../helpers/postgres.js";

const unavailable = await postgresUnavailable();
const CLI = ["--import", "tsx", "src/adapters/cli/main.ts"];
const ZERO_PORTS = ["enroll", "mqtt", "pki", "admin", "metrics"].flatMap((s) => [`--${s}-port`, "0"]);

interface Server {
  readonly process: Spawned;
  readonly ports: Record<string, number>;
}
interface Device {
  readonly id: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly serial: string;
}
type Row = Record<string, unknown>;

const normalSerial = (hex: string) => hex.replace(/:/g, "").replace(/^0+/, "").toUpperCase();

/**
 * The upgrade path of README "Running a cluster": a single SQLite node with devices, a revocation,
 * tokens, a second operator and an audit checkpoint is stopped, `fleetgate registry copy` moves its
 * registry into PostgreSQL, and `fleetgate serve --registry postgres://…` on the same data dir carries on
 * where it stopped — for the CLI, the enrollment API, the CRL and a device on MQTT.
 */
describe.skipIf(unavailable !== null)(
  postgresSuiteName("e2e: registry copy SQLite → PostgreSQL", unavailable),
  {
    timeout: 180_000,
  },
  () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-e2e-copy-"));
    const schemas = schemaFamily("e2ecopy");
    const postgres = `${POSTGRES_URL}?schema=${schemas.next()}`;
    const env = { FLEETGATE_LOG_LEVEL: "warn" };
    const rootCa = () => readFileSync(join(dataDir, "pki", "root-ca.crt"), "utf8");
    const cli = (...args: string[]) => runCli({ dataDir }, args, env);
    const clients: MqttClient[] = [];
    const devices = new Map<string, Device>();
    const tokens: Record<string, string> = {};
    let server: Server;
    let crlBefore: { number: number; serials: string[] };

    async function serve(...extra: string[]): Promise<Server> {
      const child = spawnTracked(process.execPath, [...CLI, "serve", "--data", dataDir, ...ZERO_PORTS, ...extra], {
        env,
        timeoutMs: 600_000,
      });
      const runtime = join(dataDir, "run", "fleetgate.json");
      await eventually(() => existsSync(runtime) && child.exitedAt() === null, "fleetgate serve", 60_000);
      const info = JSON.parse(readFileSync(runtime, "utf8")) as { ports: Record<string, number> };
      return { process: child, ports: info.ports };
    }

    async function token(id: string): Promise<string> {
      const created = await cli("token", "create", "--device", id);
      expect(created.code, created.stderr).toBe(0);
      return created.stdout.trim();
    }

    async function enroll(id: string, with_: string) {
      const { csrPem, keyPem } = opensslCsr(`/CN=${id}`);
      const url = `https://localhost:${server.ports["enroll"]}`;
      const res = await postJson(url, "/v1/enroll", { token: with_, csr: csrPem }, rootCa());
      return { res, keyPem };
    }

    async function enrollNew(id: string): Promise<Device> {
      tokens[id] = await token(id);
      const { res, keyPem } = await enroll(id, tokens[id]);
      expect(res.status, res.body).toBe(201);
      const certPem = res.json<{ certificate: string }>().certificate;
      const serial = execFileSync("openssl", ["x509", "-noout", "-serial"], { input: certPem }).toString();
      const device = { id, certPem, keyPem, serial: normalSerial(serial.trim().replace("serial=", "")) };
      devices.set(id, device);
      return device;
    }

    async function crl(): Promise<{ number: number; serials: string[] }> {
      const res = await fetch(`http://127.0.0.1:${server.ports["pki"]}/crl/ca-1.crl`);
      expect(res.status).toBe(200);
      const file = join(dataDir, `crl-${Date.now()}.der`);
      writeFileSync(file, Buffer.from(await res.arrayBuffer()));
      const text = execFileSync("openssl", ["crl", "-inform", "DER", "-in", file, "-noout", "-text"]).toString();
      const number = Number(/X509v3 CRL Number:\s*\n\s*(\d+)/.exec(text)?.[1]);
      const serials = [...text.matchAll(/Serial Number: ([0-9A-F:]+)/gi)].map((m) => normalSerial(m[1]!));
      return { number, serials };
    }

    function connect(device: Device): Promise<MqttClient> {
      return connectMqtts(server.ports["mqtt"], device, rootCa(), clients);
    }

    beforeAll(async () => {
      const init = await cli("init");
      expect(init.code, init.stderr).toBe(0);
      server = await serve();
      for (const id of ["copy-dev-1", "copy-dev-2", "copy-dev-3"]) await enrollNew(id);
      const revoked = await cli("device", "revoke", "copy-dev-2", "--reason", "keyCompromise");
      expect(revoked.code, revoked.stderr).toBe(0);
      tokens["unused"] = await token("copy-dev-4");
      expect((await cli("operator", "add", "bob")).code).toBe(0);
      const checkpoint = await cli("audit", "checkpoint", "--out", join(dataDir, "checkpoint.json"));
      expect(checkpoint.code, checkpoint.stderr).toBe(0);
      crlBefore = await crl();
      expect(crlBefore.serials).toContain(devices.get("copy-dev-2")!.serial);
    });
    afterAll(async () => {
      for (const client of clients) client.end(true);
      await killChildren();
      await schemas.dropAll();
      rmSync(dataDir, { recursive: true, force: true });
    });

    const copy = () => cli("registry", "copy", "--from", "sqlite:", "--to", postgres);

    it("refuses while `fleetgate serve` holds the data dir, and creates nothing", async () => {
      const refused = await copy();
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/cannot copy: another fleetgate is already serving/);
      const exists = await runCli({ dataDir }, ["registry", "copy", "--from", postgres, "--to", "sqlite:x.db"], env);
      expect(exists.stderr).toContain("there is no registry at");
      expect(existsSync(join(dataDir, "x.db"))).toBe(false);
    });

    it("copies the stopped node's registry, then refuses to copy into it again (registry_not_empty)", async () => {
      await server.process.kill("SIGTERM");
      const copied = await copy();
      expect(copied.code, copied.stderr).toBe(0);
      expect(copied.stdout).toMatch(/^copied sqlite: into postgres:\/\/.* \(audit head \d+\)/);
      expect(copied.stderr).toMatch(/devices: 3\n {2}certificates: 3\n {2}tokens: 4\n {2}operators: 2\n/);
      const again = await copy();
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/registry_not_empty: the destination registry already holds 3 devices/);
      server = await serve("--registry", postgres);
    });

    it("serves the same devices, certificates and statuses from PostgreSQL", async () => {
      const listed = JSON.parse((await cli("device", "list", "--json")).stdout) as Row[];
      expect(listed.map((d) => [d["id"], d["status"]])).toEqual([
        ["copy-dev-1", "active"],
        ["copy-dev-2", "revoked"],
        ["copy-dev-3", "active"],
      ]);
      const shown = JSON.parse((await cli("device", "show", "copy-dev-2", "--json")).stdout) as Row;
      const [certificate] = shown["certificates"] as Row[];
      expect(normalSerial(String(certificate!["serial"]))).toBe(devices.get("copy-dev-2")!.serial);
      expect(certificate).toMatchObject({ status: "revoked", revocationReason: "keyCompromise" });
      const operators = await cli("operator", "list");
      expect(operators.stdout).toMatch(/bob/);
    });

    it("verifies the copied audit chain, against the checkpoint written on SQLite too", async () => {
      const verify = await cli("audit", "verify");
      expect(verify.code, verify.stderr).toBe(0);
      const checkpoint = await cli("audit", "verify", "--checkpoint", join(dataDir, "checkpoint.json"));
      expect(checkpoint.code, checkpoint.stderr).toBe(0);
      expect(checkpoint.stdout).toMatch(/matches the checkpoint of/);
    });

    it("still takes the unused token and refuses the used one", async () => {
      const fresh = await enroll("copy-dev-4", tokens["unused"]!);
      expect(fresh.res.status, fresh.res.body).toBe(201);
      const used = await enroll("copy-dev-1", tokens["copy-dev-1"]!);
      expect([used.res.status, used.res.json<Row>()["code"]]).toEqual([401, "token_used"]);
    });

    it("keeps the revoked serial on the CRL, whose number only grows", async () => {
      const served = await crl();
      expect(served.number).toBeGreaterThanOrEqual(crlBefore.number);
      expect(served.serials).toContain(devices.get("copy-dev-2")!.serial);
      expect((await cli("device", "revoke", "copy-dev-3")).code).toBe(0);
      await eventually(async () => (await crl()).number > served.number, "a CRL signed after the revocation");
      const after = await crl();
      expect(after.number).toBeGreaterThan(crlBefore.number);
      expect(after.serials).toEqual(
        expect.arrayContaining([devices.get("copy-dev-2")!.serial, devices.get("copy-dev-3")!.serial]),
      );
    });

    it("admits a device with the certificate it got from the SQLite node, and refuses the revoked one", async () => {
      const client = await connect(devices.get("copy-dev-1")!);
      await client.publishAsync("devices/copy-dev-1/telemetry", "after the copy", { qos: 1 });
      await expect(connect(devices.get("copy-dev-2")!)).rejects.toThrow();
    });
  },
);
