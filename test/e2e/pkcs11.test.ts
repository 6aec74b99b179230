import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCaManifest } from "../../src/adapters/ca/ca-manifest.js";
import { pkiPaths } from "../../src/adapters/shared/key-files.js";
import { issueToken } from "../../src/app/issue-token.js";
import { revokeDevice } from "../../src/app/revoke-device.js";
import { systemClock } from "../../src/ports.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { startFleetgate, type RunningFleetgate } from "../../src/main.js";
import { estBody, csrPemToDer, makeTempDir, pkcs7Certificates, serialOf, type TempDir } from "../helpers/certs.js";
import { killChildren, runCli } from "../helpers/cli.js";
import { opensslCsr } from "../helpers/fleetgate.js";
import { httpsRequest } from "../helpers/https.js";
import { freePort, ssl } from "../helpers/pki.js";
import { createSoftHsm, type SoftHsm } from "../helpers/softhsm.js";

/**
 * The issuing CA key in a PKCS#11 token (SoftHSM2, a private token dir for this file): `fleetgate init
 * --ca-key pkcs11` makes it inside the token, `serve` signs with it, and the certificates, CRLs and OCSP
 * responses it signs verify with openssl. No issuing-CA private key is ever in the data dir. A token that
 * cannot be used stops start-up with a clear message and exit code 2.
 */
const LABEL = "fleetgate-issuing";
const PIN = "4321";
let hsm: SoftHsm;
let dataDir: string;
let tmp: TempDir;
let running: RunningFleetgate;
let base: string;
const env = () => ({ FLEETGATE_PKCS11_PIN: PIN, SOFTHSM2_CONF: process.env.SOFTHSM2_CONF });

function writeConfig(dir: string, pkcs11: Record<string, unknown>, extra: Record<string, unknown> = {}): void {
  const zero = { host: "127.0.0.1", port: 0 };
  const config = { enroll: zero, mqtt: zero, admin: zero, metrics: zero, pkcs11, ...extra };
  writeFileSync(join(dir, "fleetgate.json"), JSON.stringify(config, null, 2));
}

/** Every file under `dir` that holds a PEM private key (what `grep -rl "PRIVATE KEY" DIR` lists). */
function privateKeyFiles(dir: string): string[] {
  try {
    const out = execFileSync("grep", ["-rl", "PRIVATE KEY", dir], { encoding: "utf8" });
    return out
      .trim()
      .split("\n")
      .map((file) => file.slice(dir.length + 1))
      .sort();
  } catch (error) {
    if ((error as { status?: number }).status === 1) return []; // grep: nothing found
    throw error;
  }
}

beforeAll(async () => {
  hsm = createSoftHsm();
  hsm.initToken("fleetgate", { pin: PIN });
  tmp = makeTempDir("fleetgate-p11-e2e-");
  dataDir = mkdtempSync(join(tmpdir(), "fleetgate-p11-data-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  writeConfig(
    dataDir,
    { module: hsm.module, token: "fleetgate", keyLabel: LABEL },
    { pki: { host: "127.0.0.1", port, publicUrl: base }, ca: { key: "pkcs11" } },
  );
}, 60_000);

afterAll(async () => {
  await running?.close();
  await killChildren();
  rmSync(dataDir, { recursive: true, force: true });
  tmp?.remove();
  hsm?.remove();
});

describe("fleetgate init with the issuing CA key in the token", () => {
  it("makes the key inside the token and writes no issuing-CA private key", async () => {
    const result = await runCli({ dataDir }, ["init"], env());
    expect(result.code, result.stderr).toBe(0);
    const manifest = readCaManifest(pkiPaths(dataDir));
    expect(manifest.cas).toEqual([expect.objectContaining({ id: "ca-1", key: { type: "pkcs11", label: LABEL } })]);
    expect(existsSync(join(dataDir, "pki", "issuing", "ca-1.key"))).toBe(false);
    // The root key (taken offline after init), the listeners' key and the operator's are files; nothing else.
    expect(privateKeyFiles(dataDir)).toEqual(["operators/admin.key", "pki/root-ca.key", "pki/server.key"]);
    // The key is a token object: sensitive, never extractable (checked by test/adapters/ca/pkcs11).
    const listed = execFileSync("softhsm2-util", ["--show-slots"], { encoding: "utf8" });
    expect(listed).toContain("fleetgate");
  });
});

describe("serve signs with the token key", () => {
  beforeAll(async () => {
    const config = loadConfig({ dataDir });
    running = await startFleetgate(config, createLogger("silent"), undefined, { ...process.env, ...env() });
  });

  const enrollUrl = () => `https://localhost:${running.ports.enroll}`;
  const rootPem = () => readFileSync(pkiPaths(dataDir).rootCert, "utf8");

  async function estEnroll(id: string): Promise<{ certPem: string; file: string }> {
    const profiles = new Set(["device"]);
    const deps = { registry: running.registry, clock: systemClock, profiles };
    const { token } = await issueToken(deps, { deviceId: id, ttlMs: 3_600_000, profile: "device", actor: "test" });
    const { csrPem } = opensslCsr(`/CN=${id}`);
    const res = await httpsRequest(`${enrollUrl()}/.well-known/est/simpleenroll`, {
      method: "POST",
      ca: rootPem(),
      headers: {
        "content-type": "application/pkcs10",
        authorization: `Basic ${Buffer.from(`${id}:${token}`).toString("base64")}`,
      },
      body: estBody(csrPemToDer(csrPem), true),
    });
    expect(res.status, res.body).toBe(200);
    const certPem = pkcs7Certificates(res.body)[0]!;
    return { certPem, file: tmp.file(`${id}.crt`, certPem) };
  }

  it("enrolls over EST; the certificate verifies with openssl against the root", async () => {
    const { file } = await estEnroll("p11-dev");
    const bundle = tmp.file("bundle.pem", readFileSync(pkiPaths(dataDir).caBundle, "utf8"));
    const verified = await ssl("verify", "-CAfile", bundle, file);
    expect(verified.out).toContain(": OK");
    expect(running.pki.ring.active.keyType).toBe("pkcs11");
  });

  it("signs a CRL and OCSP responses that verify with openssl", async () => {
    const good = await estEnroll("p11-good");
    const lost = await estEnroll("p11-lost");
    await revokeDevice(running.revocation, "p11-lost", "keyCompromise", "test");
    const bundle = tmp.file("bundle2.pem", readFileSync(pkiPaths(dataDir).caBundle, "utf8"));
    const der = Buffer.from(await (await fetch(`${base}/crl/ca-1.crl`)).arrayBuffer());
    const crl = await ssl(
      "crl",
      "-inform",
      "DER",
      "-in",
      tmp.file("ca-1.crl", der),
      "-CAfile",
      bundle,
      "-noout",
      "-text",
    );
    expect(crl.out).toContain("verify OK");
    expect(crl.out.replace(/\s/g, "")).toContain(`SerialNumber:${serialOf(lost.certPem).toUpperCase()}`);
    const issuer = tmp.file("issuing.pem", readFileSync(pkiPaths(dataDir).issuingCert, "utf8"));
    const ocsp = (file: string) =>
      ssl("ocsp", "-issuer", issuer, "-cert", file, "-url", `${base}/ocsp`, "-CAfile", bundle);
    const goodAnswer = await ocsp(good.file);
    expect(goodAnswer.out).toContain("Response verify OK");
    expect(goodAnswer.out).toContain("p11-good.crt: good");
    const lostAnswer = await ocsp(lost.file);
    expect(lostAnswer.out).toContain("Response verify OK");
    expect(lostAnswer.out).toMatch(/p11-lost\.crt: revoked(.|\n)*Reason: keyCompromise/);
  });

  it("rotates to a new issuing CA whose key is made in the token too", async () => {
    const result = await runCli({ dataDir }, ["ca", "rotate", "--ca-key", "pkcs11"], env());
    expect(result.code, result.stderr).toBe(0);
    expect(running.pki.ring.trusted.map((ca) => [ca.id, ca.keyType])).toEqual([
      ["ca-2", "pkcs11"],
      ["ca-1", "pkcs11"],
    ]);
    expect(readCaManifest(pkiPaths(dataDir)).cas.find((ca) => ca.id === "ca-2")?.key).toEqual({
      type: "pkcs11",
      label: `${LABEL}-ca-2`,
    });
    const { file } = await estEnroll("p11-after");
    const bundle = tmp.file("bundle3.pem", readFileSync(pkiPaths(dataDir).caBundle, "utf8"));
    expect((await ssl("verify", "-CAfile", bundle, file)).out).toContain(": OK");
    expect(privateKeyFiles(dataDir)).toEqual(["operators/admin.key", "pki/root-ca.key", "pki/server.key"]);
  });
});

describe("a token that cannot be used stops start-up (exit 2, a clear message, no stack trace)", () => {
  async function serveWith(pkcs11: Record<string, unknown>, pin = PIN) {
    const dir = mkdtempSync(join(tmpdir(), "fleetgate-p11-bad-"));
    try {
      // The PKI of the first data dir, whose CA key is in the token.
      execFileSync("cp", ["-r", join(dataDir, "pki"), join(dir, "pki")]);
      writeConfig(
        dir,
        { module: hsm.module, token: "fleetgate", keyLabel: LABEL, ...pkcs11 },
        { pki: { host: "127.0.0.1", port: 0 } },
      );
      return await runCli({ dataDir: dir }, ["serve"], {
        ...env(),
        FLEETGATE_PKCS11_PIN: pin,
        FLEETGATE_LOG_LEVEL: "silent",
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  function expectStartupRefusal(result: Awaited<ReturnType<typeof serveWith>>, message: RegExp): void {
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stderr).not.toContain(PIN);
  }

  it("a wrong PIN", async () => {
    expectStartupRefusal(
      await serveWith({}, "0000"),
      /^fleetgate: the token "fleetgate" refused the user PIN \(CKR_PIN_INCORRECT/,
    );
  });

  it("a token that is not there", async () => {
    expectStartupRefusal(
      await serveWith({ token: "no-such-token" }),
      /no token labelled "no-such-token" \(pkcs11\.token\)/,
    );
  });

  it("a module that does not load", async () => {
    expectStartupRefusal(
      await serveWith({ module: join(tmp.dir, "libnothing.so") }),
      /cannot load the PKCS#11 module .*libnothing\.so/,
    );
  });

  it("no PIN at all", async () => {
    expectStartupRefusal(
      await serveWith({}, ""),
      /no PIN for the PKCS#11 token: set FLEETGATE_PKCS11_PIN or pkcs11\.pinFile/,
    );
  });
});

describe("fleetgate init --root-key pkcs11", () => {
  it("keeps the root key in the token as well; one-step rotate signs with it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fleetgate-p11-root-"));
    try {
      writeConfig(dir, { module: hsm.module, token: "fleetgate", keyLabel: "second" });
      const init = await runCli({ dataDir: dir }, ["init", "--ca-key", "pkcs11", "--root-key", "pkcs11"], env());
      expect(init.code, init.stderr).toBe(0);
      expect(privateKeyFiles(dir)).toEqual(["operators/admin.key", "pki/server.key"]);
      expect(readCaManifest(pkiPaths(dir)).root.key).toEqual({ type: "pkcs11", label: "second-root" });
      const rotate = await runCli({ dataDir: dir }, ["ca", "rotate"], env());
      expect(rotate.code, rotate.stderr).toBe(0);
      expect(rotate.stdout).toContain("issuing CA ca-2 is active");
      const chain = tmp.file("ca-2-chain.pem", readFileSync(join(dir, "pki", "issuing", "ca-2.crt"), "utf8"));
      const verified = await ssl("verify", "-CAfile", join(dir, "pki", "root-ca.crt"), chain);
      expect(verified.out).toContain(": OK");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
