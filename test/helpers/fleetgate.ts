import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { issueToken, type IssueTokenRequest } from "../../src/app/issue-token.js";
import { pkiPaths, type PkiPaths } from "../../src/adapters/shared/key-files.js";
import { parseConfig, type Config, type ConfigInput } from "../../src/config.js";
import { createLogger, type Logger } from "../../src/logger.js";
import { initDataDir, startFleetgate, type RunningFleetgate } from "../../src/main.js";
import { systemClock } from "../../src/ports.js";

/** Log lines a test can read back (pino JSON objects). */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString("utf8").split("\n"))
      if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  }
  raw(): string {
    return this.lines.map((l) => JSON.stringify(l)).join("\n");
  }
}

export interface TestFleetgate {
  readonly dataDir: string;
  readonly config: Config;
  readonly pki: PkiPaths;
  readonly running: RunningFleetgate;
  readonly logs: LogCapture;
  readonly logger: Logger;
  readonly enrollUrl: string;
  /** Root CA PEM: what a client trusts to verify the server. */
  readonly rootCaPem: string;
  token(request: Partial<IssueTokenRequest>): Promise<string>;
  close(): Promise<void>;
}

/** Every listener on port 0, a fresh data dir in tmp, a PKI made by `fleetgate init`'s code. */
export function testConfig(dataDir: string, overrides: ConfigInput = {}): Config {
  const zero = { host: "127.0.0.1", port: 0 };
  return parseConfig({
    dataDir,
    logLevel: "debug",
    enroll: {
      ...zero,
      rateLimit: { perAddress: { perSecond: 10_000, burst: 10_000 }, perToken: { perSecond: 10_000, burst: 10_000 } },
    },
    mqtt: zero,
    pki: zero,
    admin: zero,
    metrics: zero,
    ...overrides,
  });
}

export async function startTestFleetgate(overrides: ConfigInput = {}): Promise<TestFleetgate> {
  const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-test-"));
  const config = testConfig(dataDir, overrides);
  const logs = new LogCapture();
  const logger = createLogger("debug", logs);
  await initDataDir(config, logger);
  const running = await startFleetgate(config, logger);
  const pki = pkiPaths(dataDir);
  const profiles = new Set(Object.keys(config.profiles));
  return {
    dataDir,
    config,
    pki,
    running,
    logs,
    logger,
    enrollUrl: `https://localhost:${running.ports.enroll}`,
    rootCaPem: readFileSync(pki.rootCert, "utf8"),
    async token(request) {
      const issued = await issueToken(
        { registry: running.registry, clock: systemClock, profiles },
        {
          ttlMs: 3_600_000,
          profile: "device",
          actor: "test",
          ...request,
        },
      );
      return issued.token;
    },
    async close() {
      await running.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A CSR made by the openssl CLI, as PEM, plus the key; `keyArgs` e.g. ["-newkey", "rsa:1024"]. */
export function opensslCsr(
  subject: string,
  keyArgs = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
  extra: string[] = [],
): { csrPem: string; keyPem: string } {
  const dir = mkdtempSync(join(tmpdir(), "fleetgate-csr-"));
  try {
    const keyFile = join(dir, "key.pem");
    const csrPem = execFileSync(
      "openssl",
      ["req", "-new", ...keyArgs, "-nodes", "-keyout", keyFile, "-subj", subject, ...extra],
      { stdio: ["ignore", "pipe", "ignore"] },
    ).toString();
    return { csrPem, keyPem: readFileSync(keyFile, "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function pemToBase64Body(pem: string): string {
  return (
    pem
      .replace(/-----[A-Z ]+-----/g, "")
      .replace(/\s+/g, "\n")
      .trim() + "\n"
  );
}
