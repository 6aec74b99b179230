import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CaKeys } from "../../src/adapters/ca/ca-keys.js";
import { caFiles, readCaManifest } from "../../src/adapters/ca/ca-manifest.js";
import { FileIssuerKey } from "../../src/adapters/ca/file-issuer-key.js";
import { pkiPaths, type PkiPaths } from "../../src/adapters/shared/key-files.js";
import { x509 } from "../../src/adapters/shared/x509.js";
import { createLogger } from "../../src/logger.js";
import { initDataDir, startFleetgate } from "../../src/main.js";
import { activateIssuingCa, prepareIssuingCa, rotateIssuingCa } from "../../provisioning/ca-rotation.js";
import { issuingCaCsr, signIssuingCsr } from "../../provisioning/issuing-csr.js";
import { caName } from "../../provisioning/pki-certificates.js";
import { testConfig } from "../helpers/fleetgate.js";

/** Rollover on disk, without a server: the manifest, the checks of sign-issuing and activate, old data dirs. */
const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

async function dataDir(): Promise<{ dir: string; paths: PkiPaths; keys: CaKeys }> {
  const dir = mkdtempSync(join(tmpdir(), "fleetgate-rotation-"));
  dirs.push(dir);
  await initDataDir(testConfig(dir), createLogger("silent"));
  const paths = pkiPaths(dir);
  return { dir, paths, keys: new CaKeys(paths, undefined, {}) };
}

describe("ca sign-issuing", () => {
  let paths: PkiPaths;
  let rootKey: FileIssuerKey;
  let rootCertPem: string;
  beforeAll(async () => {
    ({ paths } = await dataDir());
    rootKey = FileIssuerKey.load(paths.rootKey);
    rootCertPem = readFileSync(paths.rootCert, "utf8");
  });

  it("makes a pathLen-0 CA certificate that never outlives the root", async () => {
    const { key } = FileIssuerKey.generate("P-256");
    const csrPem = await issuingCaCsr(caName("fleetgate", "fleetgate Issuing CA 9"), key);
    const pem = await signIssuingCsr({ csrPem, rootCertPem, rootKey, lifetimeMs: 100 * 365 * 86_400_000 });
    const certificate = new x509.X509Certificate(pem);
    const root = new x509.X509Certificate(rootCertPem);
    expect(certificate.subject).toBe("CN=fleetgate Issuing CA 9, O=fleetgate");
    expect(certificate.notAfter.getTime()).toBeLessThanOrEqual(root.notAfter.getTime());
    expect(certificate.getExtension(x509.BasicConstraintsExtension)).toMatchObject({ ca: true, pathLength: 0 });
    expect(await certificate.verify({ publicKey: root.publicKey, signatureOnly: true })).toBe(true);
  });

  it("refuses a CSR whose signature does not verify, a key that is not EC P-256/P-384, and the wrong root key", async () => {
    const { key } = FileIssuerKey.generate("P-256");
    const csrPem = await issuingCaCsr(caName("o", "cn"), key);
    const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
    der[der.length - 1]! ^= 1;
    const broken = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(signIssuingCsr({ csrPem: broken, rootCertPem, rootKey })).rejects.toThrow(/self-signature/);
    const { execFileSync } = await import("node:child_process");
    const rsa = execFileSync(
      "openssl",
      ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "/dev/null", "-subj", "/CN=x"],
      {
        stdio: ["ignore", "pipe", "ignore"],
      },
    ).toString();
    await expect(signIssuingCsr({ csrPem: rsa, rootCertPem, rootKey })).rejects.toThrow(/ECDSA P-256 or P-384/);
    await expect(signIssuingCsr({ csrPem, rootCertPem, rootKey: key })).rejects.toThrow(/does not belong to the root/);
    await expect(signIssuingCsr({ csrPem: "nothing", rootCertPem, rootKey })).rejects.toThrow(
      /no PEM CERTIFICATE REQUEST/,
    );
  });
});

describe("ca activate", () => {
  it("refuses a certificate of the right root for a key that is not pending, and keeps ca-1 active", async () => {
    const { paths, keys } = await dataDir();
    const { key } = FileIssuerKey.generate("P-256");
    const csrPem = await issuingCaCsr(caName("fleetgate", "stray"), key);
    const stray = await signIssuingCsr({
      csrPem,
      rootCertPem: readFileSync(paths.rootCert, "utf8"),
      rootKey: FileIssuerKey.load(paths.rootKey),
    });
    await expect(activateIssuingCa({ paths, keys, hostnames: [] }, stray)).rejects.toThrow(
      /no pending issuing CA has this certificate's key/,
    );
    expect(readCaManifest(paths).cas.map((ca) => [ca.id, ca.state])).toEqual([["ca-1", "active"]]);
  });

  it("numbers CAs past pending ones and records each step in the manifest", async () => {
    const { paths, keys } = await dataDir();
    const first = await prepareIssuingCa({ paths, keys, hostnames: [] }, "file");
    const second = await prepareIssuingCa({ paths, keys, hostnames: [] }, "file");
    expect([first.id, second.id]).toEqual(["ca-2", "ca-3"]);
    expect(readCaManifest(paths).pending.map((p) => p.id)).toEqual(["ca-2", "ca-3"]);
    const signed = await signIssuingCsr({
      csrPem: second.csrPem,
      rootCertPem: readFileSync(paths.rootCert, "utf8"),
      rootKey: FileIssuerKey.load(paths.rootKey),
    });
    const activation = await activateIssuingCa({ paths, keys, hostnames: [] }, signed);
    expect(activation).toMatchObject({ id: "ca-3", previous: "ca-1" });
    const manifest = readCaManifest(paths);
    expect(manifest.cas.map((ca) => [ca.id, ca.state])).toEqual([
      ["ca-1", "retiring"],
      ["ca-3", "active"],
    ]);
    expect(manifest.pending.map((p) => p.id)).toEqual(["ca-2"]);
    expect(readFileSync(paths.issuingCert, "utf8")).toBe(readFileSync(caFiles(paths, "ca-3").cert, "utf8"));
    expect(readFileSync(paths.caBundle, "utf8").match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
  });
});

describe("a data dir from before rollover (no issuing-cas.json)", () => {
  it("serves its one CA as ca-1, and its first rotation keeps ca-1's certificate and key where they can be found", async () => {
    const { dir, paths, keys } = await dataDir();
    // What init wrote before: pki/issuing-ca.crt and pki/issuing-ca.key, no manifest.
    renameSync(caFiles(paths, "ca-1").key, paths.issuingKey);
    rmSync(caFiles(paths, "ca-1").cert);
    rmSync(paths.manifest);
    const legacyPem = readFileSync(paths.issuingCert, "utf8");
    expect(readCaManifest(paths).cas).toEqual([
      { id: "ca-1", state: "active", certificate: "issuing-ca.crt", key: { type: "file", path: "issuing-ca.key" } },
    ]);
    const running = await startFleetgate(testConfig(dir), createLogger("silent"));
    try {
      expect(running.pki.ring.active.id).toBe("ca-1");
    } finally {
      await running.close();
    }
    await rotateIssuingCa({ paths, keys, hostnames: [] }, "file");
    const manifest = readCaManifest(paths);
    expect(manifest.cas.find((ca) => ca.id === "ca-1")).toMatchObject({
      state: "retiring",
      certificate: "issuing/ca-1.crt",
      key: { type: "file", path: "issuing-ca.key" },
    });
    expect(readFileSync(caFiles(paths, "ca-1").cert, "utf8")).toBe(legacyPem);
    expect(readFileSync(paths.issuingCert, "utf8")).not.toBe(legacyPem);
    const restarted = await startFleetgate(testConfig(dir), createLogger("silent"));
    try {
      expect(restarted.pki.ring.trusted.map((ca) => ca.id)).toEqual(["ca-2", "ca-1"]);
    } finally {
      await restarted.close();
    }
  });

  it("refuses to start on a manifest that is not valid, naming the problem", async () => {
    const { dir, paths } = await dataDir();
    const manifest = JSON.parse(readFileSync(paths.manifest, "utf8")) as { cas: { key: { path?: string } }[] };
    manifest.cas[0]!.key.path = "../../etc/passwd";
    writeFileSync(paths.manifest, JSON.stringify(manifest));
    await expect(startFleetgate(testConfig(dir), createLogger("silent"))).rejects.toThrow(
      /issuing-cas\.json is invalid: cas\.0\.key\.path: expected a path inside pki\//,
    );
    writeFileSync(paths.manifest, "{");
    await expect(startFleetgate(testConfig(dir), createLogger("silent"))).rejects.toThrow(
      /issuing-cas\.json is not JSON/,
    );
    expect(existsSync(paths.rootKey)).toBe(true);
  });
});
