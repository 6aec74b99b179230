import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { caFiles } from "../src/adapters/ca/ca-manifest.js";
import { pkiPaths } from "../src/adapters/shared/key-files.js";
import { createLogger } from "../src/logger.js";
import { initDataDir, registryFile, startFleetgate } from "../src/main.js";
import { readRuntimeInfo, runtimeFile, writeRuntimeInfo, type RuntimeInfo } from "../src/runtime-file.js";
import { operatorPaths } from "../provisioning/operator-credential.js";
import { killChildren, runCli, spawnTracked, type Spawned } from "./helpers/cli.js";
import { eventually } from "./helpers/mqtt-kit.js";
import { connected, rawTcp } from "./helpers/raw-sockets.js";
import { testConfig } from "./helpers/fleetgate.js";

/** Every private key fleetgate writes is 0600, and none is used once others can read it. */
describe("private key file modes", { timeout: 60_000 }, () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "fleetgate-modes-"));
    await initDataDir(testConfig(dataDir), createLogger("silent"));
  });
  afterAll(async () => {
    await killChildren();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("init writes every key and the registry 0600", () => {
    const paths = pkiPaths(dataDir);
    for (const file of [
      paths.rootKey,
      caFiles(paths, "ca-1").key,
      paths.serverKey,
      operatorPaths(dataDir, "admin").key,
      registryFile(dataDir),
    ]) {
      expect(statSync(file).mode & 0o777, file).toBe(0o600);
    }
  });

  it("serve refuses a server key that others can read", async () => {
    const { serverKey } = pkiPaths(dataDir);
    chmodSync(serverKey, 0o644);
    try {
      await expect(startFleetgate(testConfig(dataDir), createLogger("silent"))).rejects.toThrow(
        /server\.key has mode 644; private keys must be 0600/,
      );
    } finally {
      chmodSync(serverKey, 0o600);
    }
  });

  it("the CLI refuses an operator key that others can read (exit 2), before connecting", async () => {
    const { key } = operatorPaths(dataDir, "admin");
    chmodSync(key, 0o640);
    try {
      const result = await runCli({ dataDir }, ["device", "list"]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("admin.key has mode 640; private keys must be 0600");
    } finally {
      chmodSync(key, 0o600);
    }
  });
});

describe("a listener that cannot start", { timeout: 60_000 }, () => {
  it("names the listener and the setting, and closes what had already started", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-busy-"));
    const blocker = createServer();
    try {
      await initDataDir(testConfig(dataDir), createLogger("silent"));
      await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
      const busy = (blocker.address() as AddressInfo).port;
      const mqttPort = await freePort();
      const config = testConfig(dataDir, {
        mqtt: { host: "127.0.0.1", port: mqttPort },
        admin: { host: "127.0.0.1", port: busy },
      });
      await expect(startFleetgate(config, createLogger("silent"))).rejects.toThrow(
        `admin listener cannot listen on 127.0.0.1:${busy}: the port is in use (set admin.port in fleetgate.json, FLEETGATE_ADMIN_PORT or --admin-port)`,
      );
      // The MQTT listener had started before the admin one failed; it was closed again.
      const probe = createServer();
      await new Promise<void>((resolve, reject) => probe.once("error", reject).listen(mqttPort, "127.0.0.1", resolve));
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      expect(readRuntimeInfo(dataDir)).toBeNull();
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const CLI_MAIN = "src/adapters/cli/main.ts";
const ZERO_PORTS = [
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

/** `fleetgate serve` in its own process (optionally under `prlimit`), every listener on an ephemeral port. */
function spawnServe(dataDir: string, prefix: readonly string[] = []): Spawned {
  const node = [process.execPath, "--import", "tsx", CLI_MAIN, "serve", "--data", dataDir, ...ZERO_PORTS];
  const [command, ...args] = [...prefix, ...node];
  return spawnTracked(command!, args, { env: { FLEETGATE_LOG_LEVEL: "info" }, timeoutMs: 60_000 });
}

/** Resolves with the runtime file once the server wrote it (it does so after every listener is up). */
async function runtimeOf(server: Spawned, dataDir: string): Promise<RuntimeInfo> {
  await server.waitForOutput("metrics listening");
  let info: RuntimeInfo | null = null;
  await vi.waitFor(() => expect((info = readRuntimeInfo(dataDir))?.pid).toBe(server.child.pid), { timeout: 10_000 });
  return info!;
}

describe("one server per data dir: an OS lock on run/serve.lock", { timeout: 120_000 }, () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "fleetgate-twice-"));
    await initDataDir(testConfig(dataDir), createLogger("silent"));
  });
  afterAll(async () => {
    await killChildren();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses a second serve even after run/fleetgate.json was deleted; kill -9 of the first frees it", async () => {
    const first = spawnServe(dataDir);
    await runtimeOf(first, dataDir);
    rmSync(runtimeFile(dataDir)); // the old guard, gone
    const lockFile = join(dataDir, "run", "serve.lock");
    const refusal = `another fleetgate is already serving ${dataDir} (it holds the lock ${lockFile}); stop it first`;
    const second = await spawnServe(dataDir).exited;
    expect(second.code, second.stderr).toBe(1);
    expect(second.stderr).toContain(refusal);
    // In this process too (the lock is the kernel's, not a pid in a file).
    await expect(startFleetgate(testConfig(dataDir), createLogger("silent"))).rejects.toThrow(refusal);

    // kill -9: no clean-up ran, yet the kernel released the lock with the process.
    await first.kill("SIGKILL");
    // A runtime file naming some live process that is not fleetgate does not block either.
    const unrelated = spawnTracked("sleep", ["30"]);
    writeRuntimeInfo(dataDir, { pid: unrelated.child.pid!, ports: { admin: 1 }, adminHost: "127.0.0.1" });
    const third = spawnServe(dataDir);
    const info = await runtimeOf(third, dataDir);
    expect(info.pid).toBe(third.child.pid);
    const stopped = await third.kill("SIGTERM");
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(readRuntimeInfo(dataDir)).toBeNull(); // removed on a clean stop
    await unrelated.kill("SIGKILL");
  });

  it("releases the lock on close: the same process can serve again", async () => {
    const running = await startFleetgate(testConfig(dataDir), createLogger("silent"));
    await running.close();
    const again = await startFleetgate(testConfig(dataDir), createLogger("silent"));
    await again.close();
  });
});

describe("file descriptors: the MQTT cap gives way to the open-file limit", { timeout: 120_000 }, () => {
  let dataDir: string;
  /** 50 HTTP connections + 256 headroom = 306 descriptors before any MQTT connection. */
  const caps = { maxConnections: 10 };
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "fleetgate-nofile-"));
    await initDataDir(testConfig(dataDir), createLogger("silent"));
    const config = {
      enroll: { maxConnections: 20 },
      pki: caps,
      admin: caps,
      metrics: caps,
      mqtt: { handshakeTimeout: "60s" },
    };
    writeFileSync(join(dataDir, "fleetgate.json"), JSON.stringify(config));
  });
  afterAll(async () => {
    await killChildren();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("caps MQTT connections to what fits, warns once with the ulimit to use, keeps the admin API reachable", async () => {
    const server = spawnServe(dataDir, ["prlimit", "--nofile=340:340"]);
    const info = await runtimeOf(server, dataDir);
    const warnings = server
      .stdout()
      .split("\n")
      .filter((line) => line.includes("open-file limit"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(
      "open-file limit 340 is too small for mqtt.maxConnections 20000: MQTT connections capped at 34; run with ulimit -n 20306",
    );
    const held = Array.from({ length: 34 }, () => rawTcp(info.ports["mqtt"]!));
    try {
      for (const { socket } of held) await connected(socket);
      const extra = await rawTcp(info.ports["mqtt"]!).closed;
      expect(extra.received).toBe(""); // connection_limit_reached: closed before any TLS
      // The refusal's log line crosses the child's stdout pipe after the socket close reached us.
      await eventually(() => server.stdout().includes("connection_limit_reached"), "the connection_limit_reached line");
      // The admin listener's share was kept: the operator still gets through.
      const list = await runCli({ dataDir }, ["device", "list", "--json"]);
      expect(list, list.stderr).toMatchObject({ code: 0 });
    } finally {
      for (const { socket } of held) socket.destroy();
      await server.kill("SIGTERM");
    }
  });

  it("refuses to start when not even the HTTP listeners' caps fit", async () => {
    const refused = await spawnServe(dataDir, ["prlimit", "--nofile=200:200"]).exited;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      "the open-file limit (200) cannot hold the HTTP listeners' connection caps and the registry; raise it to at least 20306",
    );
  });
});
