import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revokeDevice } from "../../src/app/revoke-device.js";
import {
  foreignClientCertificate,
  makeTempDir,
  pkcs7Certificates,
  sameCertificate,
  serialOf,
  type TempDir,
} from "../helpers/certs.js";
import { killChildren, runCli, runCliJson } from "../helpers/cli.js";
import { connectDevice, enrollDevice, type EnrolledDevice } from "../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../helpers/fleetgate.js";
import { httpsRequest } from "../helpers/https.js";
import { caPem, freePort, issuerCn, presentedCertificate, reenroll, ssl } from "../helpers/pki.js";

/**
 * Issuing-CA rollover without downtime, through the real CLI against a running server: the two-step
 * flow (`ca rotate --csr`, `ca sign-issuing` with the root key, `ca activate`), the overlap during which
 * both CAs are trusted and each keeps its CRL and OCSP, renewals moving devices to the new CA, and
 * retirement (refused while the old CA still vouches for something).
 */
let fg: TestFleetgate;
let tmp: TempDir;
let base: string;
let old: EnrolledDevice; // enrolled under ca-1, stays connected across the rollover
let lost: EnrolledDevice; // enrolled under ca-1, revoked during the overlap
let oldClient: MqttClient;
let serverBefore: string;
type Row = Record<string, unknown>;

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  fg = await startTestFleetgate({ pki: { host: "127.0.0.1", port, publicUrl: base } });
  tmp = makeTempDir("fleetgate-rollover-");
  old = await enrollDevice(fg, "roll-old");
  lost = await enrollDevice(fg, "roll-lost");
  oldClient = await connectDevice(fg, old);
  serverBefore = (await presentedCertificate(fg.running.ports.enroll, fg.rootCaPem)).serialNumber;
}, 60_000);

afterAll(async () => {
  oldClient?.end(true);
  await killChildren();
  await fg?.close();
  for (const device of [old, lost]) device?.cleanup();
  tmp?.remove();
});

const cli = (args: string[]) => runCli(fg, args);

describe("two-step rollover: rotate --csr, sign-issuing offline, activate", () => {
  it("prepares a key and a CSR for ca-2 without changing what the server signs with", async () => {
    const result = await cli(["ca", "rotate", "--csr", "--out", join(tmp.dir, "ca-2.csr")]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("issuing CA ca-2 prepared");
    expect(readFileSync(join(fg.dataDir, "pki", "issuing", "ca-2.key"), "utf8")).toContain("PRIVATE KEY");
    const csr = await ssl("req", "-in", join(tmp.dir, "ca-2.csr"), "-noout", "-verify", "-subject");
    expect(csr.out).toMatch(/verify OK|Certificate request self-signature verify OK/);
    expect(csr.out).toMatch(/CN ?= ?fleetgate Issuing CA 2/);
    expect(fg.running.pki.ring.active.id).toBe("ca-1");
  });

  it("signs the CSR with the root key as plain file operations (no data dir, no server)", async () => {
    const root = { key: join(tmp.dir, "root-ca.key"), cert: join(tmp.dir, "root-ca.crt") };
    tmp.file("root-ca.key", readFileSync(fg.pki.rootKey));
    tmp.file("root-ca.crt", fg.rootCaPem);
    const { chmodSync } = await import("node:fs");
    chmodSync(root.key, 0o600);
    const args = ["ca", "sign-issuing", "--root-key", root.key, "--root-cert", root.cert];
    const result = await runCli({ dataDir: join(tmp.dir, "no-such-data-dir") }, [
      ...args,
      "--csr",
      join(tmp.dir, "ca-2.csr"),
      "--out",
      join(tmp.dir, "ca-2.crt"),
    ]);
    expect(result.code, result.stderr).toBe(0);
    const text = await ssl("x509", "-in", join(tmp.dir, "ca-2.crt"), "-noout", "-text");
    expect(text.out).toMatch(/CA:TRUE, pathlen:0/);
    expect(text.out).toMatch(/Certificate Sign, CRL Sign/);
    const verified = await ssl("verify", "-CAfile", root.cert, join(tmp.dir, "ca-2.crt"));
    expect(verified.out).toContain(": OK");
  });

  it("activates ca-2 and the running server reloads without a restart", async () => {
    const result = await cli(["ca", "activate", join(tmp.dir, "ca-2.crt")]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("issuing CA ca-2 is active");
    expect(result.stdout).toContain("ca-1 is retiring");
    expect(result.stdout).toContain("the running server reloaded its PKI: signs with ca-2, trusts ca-2, ca-1");
    expect(fg.running.pki.ring.trusted.map((ca) => ca.id)).toEqual(["ca-2", "ca-1"]);
    expect(existsSync(join(fg.dataDir, "pki", "pending", "ca-2.csr"))).toBe(false);
  });

  it("refuses to activate the same certificate twice, and a certificate from another root", async () => {
    const again = await cli(["ca", "activate", join(tmp.dir, "ca-2.crt")]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already an issuing CA here");
    const foreign = await cli(["ca", "activate", tmp.file("foreign.crt", foreignClientCertificate("x").caPem)]);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toContain("not issued by this data dir's root CA");
  });
});

describe("during the overlap", () => {
  it("keeps a connection opened before the rollover and serves the new server certificate to new ones", async () => {
    oldClient.subscribe("devices/roll-old/commands/#");
    await new Promise((resolve) => oldClient.publish("devices/roll-old/telemetry", "still here", { qos: 1 }, resolve));
    expect(oldClient.connected).toBe(true);
    const now = await presentedCertificate(fg.running.ports.enroll, fg.rootCaPem);
    expect(now.serialNumber).not.toBe(serverBefore);
    expect(now.issuer.CN).toBe("fleetgate Issuing CA 2");
    const mqtt = await presentedCertificate(fg.running.ports.mqtt, fg.rootCaPem);
    expect(mqtt.serialNumber).toBe(now.serialNumber);
  });

  it("EST /cacerts returns both issuing CAs and the root", async () => {
    const res = await httpsRequest(`${fg.enrollUrl}/.well-known/est/cacerts`, { ca: fg.rootCaPem });
    const certificates = pkcs7Certificates(res.body);
    expect(certificates).toHaveLength(3);
    expect(sameCertificate(certificates[0]!, caPem(fg, "ca-2"))).toBe(true);
    expect(sameCertificate(certificates[1]!, caPem(fg, "ca-1"))).toBe(true);
    expect(sameCertificate(certificates[2]!, fg.rootCaPem)).toBe(true);
  });

  it("signs new enrollments with ca-2, naming ca-2's own CRL", async () => {
    const fresh = await enrollDevice(fg, "roll-new");
    try {
      expect(issuerCn(fresh.certPem)).toBe("fleetgate Issuing CA 2");
      expect((await fg.running.registry.getCertificate(serialOf(fresh.certPem)))?.issuer).toBe("ca-2");
      const file = tmp.file("roll-new.crt", fresh.certPem);
      const dp = await ssl("x509", "-in", file, "-noout", "-ext", "crlDistributionPoints");
      expect(dp.out).toContain(`${base}/crl/ca-2.crl`);
      const bundle = tmp.file("bundle.pem", caPem(fg, "ca-2") + caPem(fg, "ca-1") + fg.rootCaPem);
      const verified = await ssl("verify", "-crl_check", "-crl_download", "-CAfile", bundle, file);
      expect(verified.out).toContain(": OK");
      const client = await connectDevice(fg, fresh);
      client.end(true);
    } finally {
      fresh.cleanup();
    }
  });

  it("still admits ca-1 certificates, and renews them onto ca-2", async () => {
    const again = await connectDevice(fg, { ...old, id: "roll-old" }, { clean: true, clientId: "roll-old" });
    again.end(true);
    const renewed = await reenroll(fg, old);
    expect(renewed.status, renewed.body).toBe(200);
    expect(issuerCn(renewed.certPem)).toBe("fleetgate Issuing CA 2");
    expect((await fg.running.registry.getCertificate(serialOf(old.certPem)))?.status).toBe("superseded");
  });

  it("keeps one CRL per CA: a revocation of a ca-1 certificate is on ca-1's, both are re-signed", async () => {
    const numbers = () => ["ca-1", "ca-2"].map((id) => fg.running.crls.publisher(id)!.crlNumber);
    const before = numbers();
    await revokeDevice(fg.running.revocation, "roll-lost", "keyCompromise", "test");
    const after = numbers();
    expect(after[0]).toBeGreaterThan(before[0]!);
    expect(after[1]).toBeGreaterThan(before[1]!);
    const bundle = tmp.file("bundle-crl.pem", caPem(fg, "ca-2") + caPem(fg, "ca-1") + fg.rootCaPem);
    const crl = async (id: string) => {
      const der = Buffer.from(await (await fetch(`${base}/crl/${id}.crl`)).arrayBuffer());
      return ssl("crl", "-inform", "DER", "-in", tmp.file(`${id}.crl`, der), "-CAfile", bundle, "-noout", "-text");
    };
    const one = await crl("ca-1");
    const two = await crl("ca-2");
    expect(one.out).toContain("verify OK");
    expect(two.out).toContain("verify OK");
    expect(one.out).toMatch(/Issuer: CN ?= ?fleetgate Issuing CA, O ?= ?fleetgate\n/);
    expect(two.out).toMatch(/Issuer: CN ?= ?fleetgate Issuing CA 2, O ?= ?fleetgate\n/);
    expect(one.out.replace(/\s/g, "")).toContain(`SerialNumber:${serialOf(lost.certPem).toUpperCase()}`);
    expect(two.out).not.toContain(serialOf(lost.certPem).toUpperCase());
    const downloaded = await ssl("verify", "-crl_check", "-crl_download", "-CAfile", bundle, lost.files.cert);
    expect(downloaded.out).toContain("certificate revoked");
  });

  it("answers OCSP for both CAs, each response signed by the CA the request names", async () => {
    const bundle = tmp.file("bundle-ocsp.pem", caPem(fg, "ca-2") + caPem(fg, "ca-1") + fg.rootCaPem);
    const ocsp = (issuer: string, cert: string) =>
      ssl(
        "ocsp",
        "-issuer",
        tmp.file(`${issuer}.pem`, caPem(fg, issuer)),
        "-cert",
        cert,
        "-url",
        `${base}/ocsp`,
        "-CAfile",
        bundle,
      );
    const superseded = await ocsp("ca-1", old.files.cert);
    expect(superseded.out).toContain("Response verify OK");
    expect(superseded.out).toMatch(/revoked\n(.|\n)*Reason: superseded/);
    const revoked = await ocsp("ca-1", lost.files.cert);
    expect(revoked.out).toMatch(/revoked\n(.|\n)*Reason: keyCompromise/);
    const current = (await fg.running.registry.listCertificates("roll-old")).find((c) => c.status === "active")!;
    const good = await ocsp("ca-2", tmp.file("current.pem", current.pem));
    expect(good.out).toContain("Response verify OK");
    expect(good.out).toMatch(/current\.pem: good/);
    // openssl hashes the certificate's issuer name with the -issuer key: a CertID naming neither CA.
    const crossed = await ocsp("ca-2", old.files.cert);
    expect(crossed.out).toContain("Responder Error: unauthorized (6)");
  });

  it("lists both CAs with what each still vouches for", async () => {
    const view = await runCliJson<{ issuingCas: Row[]; serverCertificate: Row }>(fg, ["ca", "list"]);
    expect(view.issuingCas.map((ca) => [ca["id"], ca["state"], ca["key"]])).toEqual([
      ["ca-2", "active", "file"],
      ["ca-1", "retiring", "file"],
    ]);
    const usage = view.issuingCas[1]!["usage"] as Row;
    expect(usage["validCertificates"]).toBeGreaterThanOrEqual(2);
    expect(usage["activeOperators"]).toBe(1);
    expect(view.serverCertificate["issuer"]).toBe("ca-2");
    const table = await cli(["ca", "list", "--expiring", "400d"]);
    expect(table.stdout).toMatch(/^server\s+from ca-2/m);
    expect(table.stdout).not.toMatch(/^issuing ca-/m);
  });

  it("refuses to retire the active CA, and ca-1 while it vouches for an operator and valid certificates", async () => {
    const active = await cli(["ca", "retire", "ca-2"]);
    expect([active.code, active.stderr]).toEqual([
      1,
      expect.stringContaining("ca_in_use: ca-2 is the active issuing CA"),
    ]);
    const forced = await cli(["ca", "retire", "ca-1", "--force"]);
    expect(forced.code).toBe(1);
    expect(forced.stderr).toContain("active operator(s) hold a certificate from ca-1");
  });
});

describe("one-step rotate with the root key present, and retirement", () => {
  it("rotates to ca-3 in one step; ca-2 and ca-1 are both retiring", async () => {
    const result = await cli(["ca", "rotate"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("issuing CA ca-3 is active");
    expect(fg.running.pki.ring.trusted.map((ca) => ca.id)).toEqual(["ca-3", "ca-2", "ca-1"]);
  });

  it("retires ca-1 after the operator moved to a new credential; --force revokes what ca-1 still vouched for", async () => {
    const added = await cli(["operator", "add", "admin2"]);
    expect(added.code, added.stderr).toBe(0);
    const revoked = await runCli(fg, ["operator", "revoke", "admin", "--operator", "admin2"]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const refused = await runCli(fg, ["ca", "retire", "ca-1", "--operator", "admin2"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/certificate\(s\) issued by ca-1 are still valid .*--force revokes them/);
    const retired = await runCli(fg, ["ca", "retire", "ca-1", "--force", "--operator", "admin2"]);
    expect(retired.code, retired.stderr).toBe(0);
    expect(retired.stdout).toContain("issuing CA ca-1 retired");
    expect(fg.running.pki.ring.trusted.map((ca) => ca.id)).toEqual(["ca-3", "ca-2"]);
    expect(existsSync(join(fg.dataDir, "pki", "issuing", "ca-1.key"))).toBe(false);
    expect((await fetch(`${base}/crl/ca-1.crl`)).status).toBe(404);
    const res = await httpsRequest(`${fg.enrollUrl}/.well-known/est/cacerts`, { ca: fg.rootCaPem });
    expect(pkcs7Certificates(res.body)).toHaveLength(3);
    // A ca-1 certificate is refused now, by TLS (ca-1 is no longer trusted) and by its registry status.
    await expect(connectDevice(fg, lost)).rejects.toThrow();
    const record = (await fg.running.registry.listCertificates("roll-new"))[0];
    expect(record?.issuer).toBe("ca-2");
    const list = await runCliJson<{ issuingCas: Row[] }>(fg, ["ca", "list", "--operator", "admin2"]);
    expect(list.issuingCas.map((ca) => [ca["id"], ca["state"]])).toEqual([
      ["ca-3", "active"],
      ["ca-2", "retiring"],
      ["ca-1", "retired"],
    ]);
  });
});
