import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../../src/logger.js";
import { initDataDir } from "../../../src/main.js";
import { killChildren, runCli, runCliJson, spawnTracked } from "../../helpers/cli.js";
import { enrollDevice, type EnrolledDevice } from "../../helpers/devices.js";
import { startTestFleetgate, testConfig, type TestFleetgate } from "../../helpers/fleetgate.js";
import { httpsRequest, type HttpsResponse } from "../../helpers/https.js";
import { allAudit } from "../../helpers/registry.js";

/** The admin listener over real HTTPS (operator mTLS) and the CLI that talks to it. */
type Row = Record<string, unknown>;
interface Credential {
  readonly cert?: string;
  readonly key?: string;
}

function operatorCredential(fg: TestFleetgate, name: string): Credential {
  const dir = join(fg.dataDir, "operators");
  return { cert: readFileSync(join(dir, `${name}.crt`), "utf8"), key: readFileSync(join(dir, `${name}.key`), "utf8") };
}

/** A certificate and key that no fleetgate CA signed. */
function selfSigned(): Credential {
  const dir = mkdtempSync(join(tmpdir(), "fleetgate-foreign-"));
  try {
    const keyArgs = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        ...keyArgs,
        "-keyout",
        join(dir, "k.pem"),
        "-out",
        join(dir, "c.pem"),
        "-subj",
        "/CN=admin",
        "-days",
        "1",
      ],
      { stdio: "ignore" },
    );
    return { cert: readFileSync(join(dir, "c.pem"), "utf8"), key: readFileSync(join(dir, "k.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("admin API: operator mTLS, refusals audited, CLI", { timeout: 90_000 }, () => {
  let fg: TestFleetgate;
  let dev1: EnrolledDevice;
  const cleanups: (() => void)[] = [];

  const admin = (path: string, credential: Credential = {}): Promise<HttpsResponse> =>
    httpsRequest(`https://localhost:${fg.running.ports.admin}${path}`, { ca: fg.rootCaPem, ...credential });
  const authFailures = async () =>
    (await allAudit(fg.running.registry)).filter((e) => e.action === "admin.auth_failed");
  /**
   * Refusals the audit log accounts for: an admin.auth_failed entry is one refusal (the first of its
   * address and interval) or a summary of `details.count` more (src/domain/refusal-tally.ts).
   */
  const refusalsAudited = async () =>
    (await authFailures()).reduce(
      (sum, e) => sum + (typeof e.details["count"] === "number" ? e.details["count"] : 1),
      0,
    );
  /** Waits for the interval's summary: every refusal is audited, within one (short, here) interval. */
  const expectAudited = (count: number) =>
    vi.waitFor(async () => expect(await refusalsAudited()).toBe(count), { timeout: 10_000, interval: 50 });

  /**
   * The request is refused with `status`/`code`, and the audit log accounts for exactly one more
   * refusal, from an address, naming the URL.
   */
  async function expectRefused(request: () => Promise<HttpsResponse>, status: number, code: string): Promise<void> {
    const before = await refusalsAudited();
    const response = await request();
    expect(response.status, response.body).toBe(status);
    expect(response.json()).toMatchObject({ code });
    // Before the operator is known, the refusal says nothing about why (no `detail`).
    expect(response.json()).not.toHaveProperty("detail");
    await expectAudited(before + 1);
    const last = (await authFailures()).at(-1)!;
    expect(last.actor).toMatch(/^address:/);
    expect(last.details["url"] ?? last.details["lastUrl"]).toBe("/v1/devices");
  }

  beforeAll(async () => {
    // A short audit interval: refusals after the first of an interval are audited in its summary.
    fg = await startTestFleetgate({ admin: { host: "127.0.0.1", port: 0, refusalAuditInterval: "300ms" } });
    dev1 = await enrollDevice(fg, "dev-1");
    cleanups.push(() => dev1.cleanup());
  });

  afterAll(async () => {
    await killChildren();
    await fg?.close();
    for (const cleanup of cleanups) cleanup();
  });

  it("refuses a request without a client certificate: 401 operator_certificate_required", async () => {
    await expectRefused(() => admin("/v1/devices"), 401, "operator_certificate_required");
  });

  it("refuses a certificate from a foreign CA: 401 operator_certificate_required", async () => {
    await expectRefused(() => admin("/v1/devices", selfSigned()), 401, "operator_certificate_required");
  });

  it("refuses a device certificate (same CA, not an operator): 403 operator_not_authorized", async () => {
    await expectRefused(
      () => admin("/v1/devices", { cert: dev1.certPem, key: dev1.keyPem }),
      403,
      "operator_not_authorized",
    );
  });

  it("admits the operator credential that init wrote into the data dir", async () => {
    await new Promise((resolve) => setTimeout(resolve, 400)); // the previous interval's summary is written
    const before = await refusalsAudited();
    const response = await admin("/v1/devices", operatorCredential(fg, "admin"));
    expect(response.status, response.body).toBe(200);
    expect(response.json<Row[]>().map((d) => d["id"])).toEqual(["dev-1"]);
    await new Promise((resolve) => setTimeout(resolve, 400)); // … and nothing more is
    expect(await refusalsAudited()).toBe(before);
  });

  it("operator add issues a working credential; operator revoke makes it refused (403)", async () => {
    const added = await runCli(fg, ["operator", "add", "alice"]);
    expect(added, added.stderr).toMatchObject({ code: 0 });
    expect(added.stdout).toContain("operator alice added");
    const alice = operatorCredential(fg, "alice");
    expect((await admin("/v1/devices", alice)).status).toBe(200);
    const asAlice = await runCliJson<Row[]>(fg, ["device", "list", "--operator", "alice"]);
    expect(asAlice.map((d) => d["id"])).toEqual(["dev-1"]);
    // A second `operator add alice` must fail before anything is issued: the local files exist.
    const duplicate = await runCli(fg, ["operator", "add", "alice"]);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain("already exists");
    const operators = await runCliJson<Row[]>(fg, ["operator", "list"]);
    expect(operators.map((o) => [o["name"], o["status"]])).toEqual([
      ["admin", "active"],
      ["alice", "active"],
    ]);
    expect(JSON.stringify(operators)).not.toContain("BEGIN CERTIFICATE");

    const revoked = await runCli(fg, ["operator", "revoke", "alice"]);
    expect(revoked, revoked.stderr).toMatchObject({ code: 0 });
    await expectRefused(() => admin("/v1/devices", alice), 403, "operator_not_authorized");
    const before = await refusalsAudited();
    const refused = await runCli(fg, ["device", "list", "--operator", "alice"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("operator_not_authorized");
    await expectAudited(before + 1);
    // admin is unaffected
    expect((await admin("/v1/devices", operatorCredential(fg, "admin"))).status).toBe(200);

    // admin is now the last active operator: revoking it would lock everyone out for good.
    const lockout = await runCli(fg, ["operator", "revoke", "admin"]);
    expect(lockout.code).toBe(1);
    expect(lockout.stderr).toContain("admin is the last active operator");
    expect((await admin("/v1/devices", operatorCredential(fg, "admin"))).status).toBe(200);
  });

  it("--cert FILE --key FILE: an operator credential from anywhere, under the same 0600 rule", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fleetgate-credential-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const files = { cert: join(dir, "me.crt"), key: join(dir, "me.key") };
    copyFileSync(join(fg.dataDir, "operators", "admin.crt"), files.cert);
    copyFileSync(join(fg.dataDir, "operators", "admin.key"), files.key);
    chmodSync(files.key, 0o600);
    const given = ["--cert", files.cert, "--key", files.key];
    const listed = await runCliJson<Row[]>(fg, ["device", "list", ...given]);
    expect(listed.map((d) => d["id"])).toEqual(["dev-1"]);

    const [certOnly, both, missing, device] = await Promise.all([
      runCli(fg, ["device", "list", "--cert", files.cert]),
      runCli(fg, ["device", "list", "--operator", "admin", ...given]),
      runCli(fg, ["device", "list", "--cert", files.cert, "--key", join(dir, "nope.key")]),
      runCli(fg, ["device", "list", "--cert", dev1.files.cert, "--key", dev1.files.key]),
    ]);
    expect([certOnly.code, both.code, missing.code]).toEqual([2, 2, 2]);
    expect(certOnly.stderr).toContain("--cert and --key go together");
    expect(both.stderr).toContain("give either --operator or --cert/--key, not both");
    expect(missing.stderr).toContain(`no such file ${join(dir, "nope.key")}`);
    // A device's own certificate and key: presented, and refused by the server.
    expect(device.code).toBe(1);
    expect(device.stderr).toContain("operator_not_authorized");

    chmodSync(files.key, 0o644);
    const readable = await runCli(fg, ["device", "list", ...given]);
    expect(readable.code).toBe(2);
    expect(readable.stderr).toContain("me.key has mode 644; private keys must be 0600");
  });

  it("token create / list / revoke through the CLI; list never shows a token or its hash", async () => {
    const [created, group] = await Promise.all([
      runCliJson<Row>(fg, ["token", "create", "--device", "dev-9", "--ttl", "2h"]),
      runCliJson<Row>(fg, ["token", "create", "--prefix", "batch-", "--uses", "5"]),
    ]);
    expect(String(created["token"])).toMatch(/^fgt_/);
    const id = String(created["id"]);

    const [listed, human] = await Promise.all([runCli(fg, ["token", "list", "--json"]), runCli(fg, ["token", "list"])]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain("fgt_");
    expect(listed.stdout).not.toMatch(/"hash"/);
    const tokens = JSON.parse(listed.stdout) as Row[];
    expect(tokens).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id, scope: "dev-9", state: "active", uses: "1/1" }),
        expect.objectContaining({ id: group["id"], scope: "batch-*", uses: "5/5" }),
      ]),
    );
    const api = await admin("/v1/tokens", operatorCredential(fg, "admin"));
    expect(api.body).not.toContain("fgt_");
    for (const token of api.json<Row[]>()) expect(token).not.toHaveProperty("hash");
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(id);
    expect(human.stdout).not.toContain("fgt_");

    const revoke = await runCli(fg, ["token", "revoke", id]);
    expect(revoke, revoke.stderr).toMatchObject({ code: 0 });
    const [after, twice, bad] = await Promise.all([
      runCliJson<Row[]>(fg, ["token", "list"]),
      runCli(fg, ["token", "revoke", id]),
      runCli(fg, ["token", "create", "--device", "dev-9", "--ttl", "soon"]),
    ]);
    expect(after.find((t) => t["id"] === id)).toMatchObject({ state: "revoked" });
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain("not_found");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("malformed_request");
  });

  it("device list --expiring: a 90-day certificate is within 100d, not within 1d", async () => {
    const [soon, tomorrow, bad] = await Promise.all([
      runCliJson<Row[]>(fg, ["device", "list", "--expiring", "100d"]),
      runCliJson<Row[]>(fg, ["device", "list", "--expiring", "1d"]),
      runCli(fg, ["device", "list", "--expiring", "soon"]),
    ]);
    expect(soon.map((d) => d["id"])).toContain("dev-1");
    const expiresIn = soon.find((d) => d["id"] === "dev-1")!["certificateExpiresIn"] as number;
    expect(expiresIn).toBeGreaterThan(89 * 86_400_000);
    expect(expiresIn).toBeLessThanOrEqual(90 * 86_400_000);
    expect(tomorrow.map((d) => d["id"])).not.toContain("dev-1");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("malformed_request");
  });

  it("acl explain: DENY exits 1, ALLOW exits 0", async () => {
    const [deny, allow, usage] = await Promise.all([
      runCli(fg, ["acl", "explain", "dev-1", "subscribe", "devices/+/commands/#"]),
      runCli(fg, ["acl", "explain", "dev-1", "subscribe", "devices/dev-1/commands/#"]),
      runCli(fg, ["acl", "explain", "dev-1", "delete", "devices/dev-1/state"]),
    ]);
    expect(deny.code).toBe(1);
    expect(deny.stdout).toMatch(/^DENY subscribe devices\/\+\/commands\/#/);
    expect(allow, allow.stderr).toMatchObject({ code: 0 });
    expect(allow.stdout).toMatch(
      /^ALLOW subscribe devices\/dev-1\/commands\/# \(role device, rule devices\/dev-1\/commands\/#\)/,
    );
    expect(usage.code).toBe(2);
  });

  it("bad operator input: refused with its reason (exit 1), and nothing changes", async () => {
    const auditBefore = (await allAudit(fg.running.registry)).length;
    const [reason, status, bareTtl, unknownDevice, raw] = await Promise.all([
      runCli(fg, ["device", "revoke", "dev-1", "--reason", "bogus"]),
      runCli(fg, ["device", "list", "--status", "gone"]),
      runCli(fg, ["token", "create", "--device", "dev-8", "--ttl", "3"]),
      runCli(fg, ["acl", "explain", "nope", "publish", "devices/nope/state"]),
      httpsRequest(`https://localhost:${fg.running.ports.admin}/v1/devices/dev-1/revoke`, {
        ca: fg.rootCaPem,
        ...operatorCredential(fg, "admin"),
        method: "POST",
        body: JSON.stringify({ reason: "cACompromise" }),
        headers: { "content-type": "application/json" },
      }),
    ]);
    expect(reason.code).toBe(1);
    expect(reason.stderr).toContain(
      'malformed_request: unknown revocation reason "bogus"; one of unspecified, keyCompromise',
    );
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(/malformed_request: status: .*"active".*"revoked"/);
    // A bare number would be 3 ms: refused, with the reason, not a token that is born expired.
    expect(bareTtl.code).toBe(1);
    expect(bareTtl.stderr).toContain("malformed_request");
    expect(bareTtl.stderr).toContain("with a unit");
    expect(unknownDevice.code).toBe(1);
    expect(unknownDevice.stderr).toContain("not_found: no device nope");
    // The API itself refuses a CA-level reason, and tells the authenticated operator why.
    expect(raw.status).toBe(400);
    expect(raw.json()).toEqual({
      code: "malformed_request",
      message: expect.any(String),
      detail: expect.stringContaining('unknown revocation reason "cACompromise"'),
    });
    expect((await fg.running.registry.getDevice("dev-1"))?.status).toBe("active");
    expect((await fg.running.registry.listTokens()).some((t) => t.deviceId === "dev-8")).toBe(false);
    expect(await allAudit(fg.running.registry)).toHaveLength(auditBefore);
  });

  it("a reader that closes the pipe early (`| head`) is not a crash", async () => {
    const cli = `node --import tsx src/adapters/cli/main.ts audit list --data '${fg.dataDir}'`;
    const piped = await spawnTracked("bash", ["-c", `${cli} | true; echo "cli exit \${PIPESTATUS[0]}" >&2`], {
      env: { FLEETGATE_LOG_LEVEL: "silent" },
    }).exited;
    expect(piped.stderr).not.toContain("EPIPE");
    expect(piped.stderr).toContain("cli exit 0");
  });

  it("CLI exit codes: usage or no credential → 2, no running server → 3", async () => {
    const missing = await runCli(fg, ["device", "list", "--operator", "nobody"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("no operator credential");
    const [unknownOption, missingArgument, help] = await Promise.all([
      runCli(fg, ["device", "list", "--colour"]),
      runCli(fg, ["device", "revoke"]),
      runCli(fg, ["device", "--help"]),
    ]);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toContain("unknown option '--colour'");
    expect(unknownOption.stderr).not.toContain("fleetgate: "); // commander's own message, not twice
    expect(missingArgument.code).toBe(2);
    expect(missingArgument.stderr).toContain("missing required argument 'id'");
    expect(help.code).toBe(0);

    const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-stopped-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    await initDataDir(testConfig(dataDir), createLogger("silent"));
    const port = await closedPort();
    const down = await runCli({ dataDir }, ["device", "list"], { FLEETGATE_ADMIN_PORT: String(port) });
    expect(down.code).toBe(3);
    expect(down.stderr).toContain("cannot reach the admin API");
  });
});
