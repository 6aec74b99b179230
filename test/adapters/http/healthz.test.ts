import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../../src/logger.js";
import { initDataDir, registryFile, startFleetgate, type RunningFleetgate } from "../../../src/main.js";
import { testConfig } from "../../helpers/fleetgate.js";

/**
 * /healthz tells the truth about the registry: made unwritable for real — the immutable attribute
 * (`chattr +i`, which even root's open file descriptors obey) on the SQLite file and its WAL, where
 * every commit is written — it answers 503 with the reason; writable again, 200, without a restart.
 * The health check probes with a real committed write at most every 5 s: the test's clock steps over that.
 */
function healthz(port: number): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    request({ host: "127.0.0.1", port, path: "/healthz" }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    })
      .on("error", reject)
      .end();
  });
}

function chattr(flag: "+i" | "-i", files: readonly string[]): void {
  try {
    execFileSync("chattr", [flag, ...files], { stdio: "pipe" });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? error);
    throw new Error(`this test needs chattr ${flag} (root with CAP_LINUX_IMMUTABLE, ext4/xfs/btrfs): ${stderr}`, {
      cause: error,
    });
  }
}

describe("/healthz and a registry that stops taking writes", { timeout: 60_000 }, () => {
  let dataDir: string;
  let running: RunningFleetgate;
  let skew = 0;
  const clock = { now: () => Date.now() + skew };
  let files: string[];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "fleetgate-health-"));
    const config = testConfig(dataDir);
    await initDataDir(config, createLogger("silent"));
    running = await startFleetgate(config, createLogger("silent"), clock);
    files = [registryFile(dataDir), `${registryFile(dataDir)}-wal`];
  });
  afterAll(async () => {
    if (files)
      chattr(
        "-i",
        files.filter((f) => existsSync(f)),
      );
    await running?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("200 while writable, 503 with the reason while immutable, 200 again without a restart", async () => {
    for (const file of files) expect(existsSync(file), file).toBe(true);
    const port = running.ports.metrics;
    expect(await healthz(port)).toEqual({
      status: 200,
      body: expect.objectContaining({ status: "ok", registry: "ok" }),
    });

    chattr("+i", files);
    skew += 6_000;
    const down = await healthz(port);
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ status: "unavailable", registry: "not writable: disk I/O error" });
    // Not only the probe: a real unit of work fails too.
    await expect(running.registry.probeWrite(clock.now())).rejects.toThrow(/disk I\/O error/);

    chattr("-i", files);
    skew += 6_000;
    expect(await healthz(port)).toEqual({
      status: 200,
      body: expect.objectContaining({ status: "ok", registry: "ok" }),
    });
  });
});
