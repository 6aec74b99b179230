import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caFiles } from "../../src/adapters/ca/ca-manifest.js";
import { loadIssuingCa } from "../../src/adapters/ca/issuing-ca.js";
import { pkiPaths } from "../../src/adapters/shared/key-files.js";
import { createLogger } from "../../src/logger.js";
import { initDataDir } from "../../src/main.js";
import { readRuntimeInfo } from "../../src/runtime-file.js";
import { makeServerCertificate } from "../../provisioning/server-certificate.js";
import { operatorPaths } from "../../provisioning/operator-credential.js";
import { killChildren, runCli, spawnTracked, type Spawned } from "../helpers/cli.js";
import { connectDevice } from "../helpers/devices.js";
import { opensslCsr, testConfig, type TestFleetgate } from "../helpers/fleetgate.js";
import { httpsRequest, postJson } from "../helpers/https.js";
import { presentedCertificate } from "../helpers/pki.js";

/**
 * The listeners' certificate is replaced without a restart, against a real `fleetgate serve` process:
 * `fleetgate server-cert renew` (which asks the server to reload) and SIGHUP (for files put there by
 * anything else). New handshakes get the new certificate on every listener; connections already open
 * stay up; a key and certificate that do not match are refused and the old pair keeps serving.
 */
let dataDir: string;
let server: Spawned;
let ports: Record<string, number>;
let rootPem: string;
let held: TLSSocket;
let device: MqttClient;
const serial = (service: string) => presentedCertificate(ports[service]!, rootPem).then((c) => c.serialNumber);

async function waitFor<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function admin(path: string, method = "GET") {
  const credential = operatorPaths(dataDir, "admin");
  return httpsRequest(`https://localhost:${ports["admin"]}${path}`, {
    method,
    ca: rootPem,
    cert: readFileSync(credential.cert, "utf8"),
    key: readFileSync(credential.key, "utf8"),
    ...(method === "POST" ? { headers: { "content-type": "application/json" }, body: "{}" } : {}),
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "fleetgate-server-cert-"));
  await initDataDir(testConfig(dataDir), createLogger("silent"));
  const zero = { host: "127.0.0.1", port: 0 };
  writeFileSync(
    join(dataDir, "fleetgate.json"),
    JSON.stringify({ enroll: zero, mqtt: zero, pki: zero, admin: zero, metrics: zero }),
  );
  server = spawnTracked(process.execPath, ["--import", "tsx", "src/adapters/cli/main.ts", "serve", "--data", dataDir], {
    timeoutMs: 120_000,
    env: { FLEETGATE_LOG_LEVEL: "info" },
  });
  const info = await waitFor(
    async () => readRuntimeInfo(dataDir),
    (value) => value?.pid === server.child.pid,
    30_000,
  );
  if (!info || info.pid !== server.child.pid)
    throw new Error(`serve did not start: ${server.stderr()}${server.stdout()}`);
  ports = { ...info.ports };
  rootPem = readFileSync(pkiPaths(dataDir).rootCert, "utf8");
  held = await new Promise<TLSSocket>((resolve, reject) => {
    const socket = connect({ host: "localhost", port: ports["enroll"]!, ca: rootPem }, () => resolve(socket));
    socket.once("error", reject);
  });
  const token = (await runCli({ dataDir }, ["token", "create", "--device", "hold-1"])).stdout.trim();
  const { csrPem, keyPem } = opensslCsr("/CN=hold-1");
  const enrolled = await postJson(
    `https://localhost:${ports["enroll"]}`,
    "/v1/enroll",
    { token, csr: csrPem },
    rootPem,
  );
  const certPem = enrolled.json<{ certificate: string }>().certificate;
  const fg = { running: { ports: { mqtt: ports["mqtt"]! } }, rootCaPem: rootPem } as unknown as TestFleetgate;
  device = await connectDevice(fg, { id: "hold-1", certPem, keyPem });
}, 90_000);

afterAll(async () => {
  device?.end(true);
  held?.destroy();
  await server?.kill();
  await killChildren();
  rmSync(dataDir, { recursive: true, force: true });
});

/** One HTTP/1.1 request over the TLS socket opened before any renewal. */
function overHeldSocket(): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = "";
    const onData = (chunk: Buffer) => {
      answer += chunk.toString("latin1");
      if (/\r\n\r\n/.test(answer)) {
        held.off("data", onData);
        resolve(answer.split("\r\n")[0]!);
      }
    };
    held.on("data", onData);
    held.once("error", reject);
    held.write("GET /.well-known/est/cacerts HTTP/1.1\r\nHost: localhost\r\n\r\n");
  });
}

describe("server-cert renew", () => {
  let before: string;
  it("issues a new certificate from the active CA and every listener serves it to new connections", async () => {
    before = await serial("enroll");
    const result = await runCli({ dataDir }, ["server-cert", "renew", "--hostname", "gw.example"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /server certificate renewed: serial \w+, valid until .+, names localhost, .*gw\.example/,
    );
    expect(result.stdout).toContain("the running server reloaded its PKI");
    for (const service of ["enroll", "mqtt", "admin"]) expect(await serial(service), service).not.toBe(before);
    const now = await presentedCertificate(ports["enroll"]!, rootPem);
    expect(now.subjectaltname).toContain("DNS:gw.example");
  });

  it("leaves connections opened before it untouched", async () => {
    expect(await overHeldSocket()).toBe("HTTP/1.1 200 OK");
    expect(held.getPeerCertificate().serialNumber).toBe(before);
    await new Promise((resolve, reject) =>
      device.publish("devices/hold-1/telemetry", "after renewal", { qos: 1 }, (error) =>
        error ? reject(error) : resolve(undefined),
      ),
    );
    expect(device.connected).toBe(true);
  });

  it("exports the server's and each CA's expiry as metrics", async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${ports["metrics"]}/metrics`)).text();
    const notAfter = Date.parse((await presentedCertificate(ports["enroll"]!, rootPem)).valid_to);
    expect(metrics).toContain(`fleetgate_server_certificate_expiry_seconds ${Math.floor(notAfter / 1000)}`);
    expect(metrics).toMatch(/fleetgate_ca_certificate_expiry_seconds\{ca="ca-1"\} \d{10}/);
    expect(metrics).toMatch(/fleetgate_ca_certificate_expiry_seconds\{ca="root"\} \d{10}/);
  });
});

describe("SIGHUP", () => {
  const paths = () => pkiPaths(dataDir);
  const ca = () => loadIssuingCa({ issuingCert: paths().issuingCert, issuingKey: caFiles(paths(), "ca-1").key });

  it("re-reads the server certificate files that something else wrote", async () => {
    const before = await serial("enroll");
    const made = await makeServerCertificate(ca(), ["hup.example"]);
    writeFileSync(paths().serverKey, made.keyPem, { mode: 0o600 });
    writeFileSync(paths().serverCert, made.chainPem);
    server.child.kill("SIGHUP");
    const after = await waitFor(
      () => serial("enroll"),
      (value) => value !== before,
    );
    expect(after).toBe(made.facts.serial.toUpperCase());
    expect(server.child.exitCode).toBeNull();
    await server.waitForOutput("PKI reloaded (SIGHUP)");
  });

  it("keeps serving the old pair when the new key does not match the certificate, and says why", async () => {
    const before = await serial("enroll");
    const other = await makeServerCertificate(ca(), []);
    writeFileSync(paths().serverKey, other.keyPem, { mode: 0o600 }); // the certificate stays the old one
    server.child.kill("SIGHUP");
    await server.waitForOutput("PKI reload failed (SIGHUP); the previous PKI stays");
    expect(await serial("enroll")).toBe(before);
    const refused = await admin("/v1/pki/reload", "POST");
    expect(refused.status).toBe(500);
    expect(refused.json()).toMatchObject({
      code: "pki_invalid",
      detail: expect.stringMatching(/key values mismatch/i),
    });
    expect(server.child.exitCode).toBeNull();
  });
});
