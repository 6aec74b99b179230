import { execFile } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killChildren, runCli } from "../../helpers/cli.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";

const run = promisify(execFile);
const PASSWORD = "p12 password for tests";

/** One admin API request authenticated by a .p12 (what a browser holding the import does). */
function whoami(fg: TestFleetgate, pfx: Buffer, passphrase: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `https://localhost:${fg.running.ports.admin}/v1/whoami`,
      { pfx, passphrase, ca: fg.rootCaPem, agent: false },
      (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("CLI: operator credentials as PKCS#12 for browsers", { timeout: 60_000 }, () => {
  let fg: TestFleetgate;
  let passwordFile: string;

  beforeAll(async () => {
    fg = await startTestFleetgate();
    passwordFile = join(fg.dataDir, "p12-password");
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    await killChildren();
    await fg?.close();
  });

  it("operator export admin --p12 writes a 0600 .p12 that OpenSSL and a TLS client accept with the password", async () => {
    const result = await runCli(fg, ["operator", "export", "admin", "--p12", "--password-file", passwordFile]);
    expect(result.code, result.stderr).toBe(0);
    const file = join(fg.dataDir, "operators", "admin.p12");
    expect(result.stdout).toContain(file);
    expect(result.stdout + result.stderr).not.toContain(PASSWORD);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const info = await run("openssl", ["pkcs12", "-in", file, "-passin", `file:${passwordFile}`, "-info", "-noout"]);
    expect(info.stderr).toMatch(/PBES2, PBKDF2, AES-256-CBC/);
    expect(await whoami(fg, readFileSync(file), PASSWORD)).toEqual({ status: 200, body: '{"operator":"admin"}' });
    await expect(whoami(fg, readFileSync(file), "not the password")).rejects.toThrow();
    const again = await runCli(fg, ["operator", "export", "admin", "--p12", "--password-file", passwordFile]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already exists");
  });

  it("operator add NAME --p12 writes NAME.crt, NAME.key and NAME.p12; the .p12 signs in as NAME", async () => {
    const result = await runCli(fg, ["operator", "add", "bob", "--p12", "--password-file", passwordFile]);
    expect(result.code, result.stderr).toBe(0);
    const file = join(fg.dataDir, "operators", "bob.p12");
    expect(result.stdout).toContain(file);
    expect(await whoami(fg, readFileSync(file), PASSWORD)).toEqual({ status: 200, body: '{"operator":"bob"}' });
  });

  it("refuses before issuing anything: no terminal and no --password-file, or a short password", async () => {
    const noTerminal = await runCli(fg, ["operator", "add", "carol", "--p12"]);
    expect(noTerminal.code).toBe(2);
    expect(noTerminal.stderr).toContain("--password-file");
    const short = join(fg.dataDir, "short");
    writeFileSync(short, "1234567\n");
    const tooShort = await runCli(fg, ["operator", "add", "carol", "--p12", "--password-file", short]);
    expect(tooShort.code).toBe(2);
    expect(tooShort.stderr).toContain("at least 8 characters");
    const operators = (await fg.running.registry.listOperators()).map((o) => o.name);
    expect(operators).not.toContain("carol");
  });
});
