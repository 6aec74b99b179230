import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caFiles } from "../src/adapters/ca/ca-manifest.js";
import { pkiPaths } from "../src/adapters/shared/key-files.js";
import { createLogger } from "../src/logger.js";
import { initDataDir, registryFile, startFleetgate } from "../src/main.js";
import { readRuntimeInfo, writeRuntimeInfo } from "../src/runtime-file.js";
import { operatorPaths } from "../provisioning/operator-credential.js";
import { killChildren, runCli } from "./helpers/cli.js";
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

describe("one server per data dir", { timeout: 60_000 }, () => {
  it("refuses to serve a data dir another live process serves; a stale runtime file does not block", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-twice-"));
    const other = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      await initDataDir(testConfig(dataDir), createLogger("silent"));
      writeRuntimeInfo(dataDir, { pid: other.pid!, ports: { admin: 1 }, adminHost: "127.0.0.1" });
      await expect(startFleetgate(testConfig(dataDir), createLogger("silent"))).rejects.toThrow(
        `another fleetgate (pid ${other.pid}) is already serving ${dataDir}`,
      );
      other.kill();
      await once(other, "exit");
      const running = await startFleetgate(testConfig(dataDir), createLogger("silent"));
      expect(readRuntimeInfo(dataDir)?.pid).toBe(process.pid);
      await running.close();
    } finally {
      other.kill();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
