import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CredentialStore } from "../../device-sim/credential-store.js";
import { classifyConnectError } from "../../device-sim/mqtt-link.js";
import { renewalTime } from "../../device-sim/renewal.js";
import { Scheduler } from "../../device-sim/scheduler.js";
import { answerTo, deviceIdOfTopic, parseTelemetry, SensorState } from "../../device-sim/telemetry.js";
import { opensslCsr } from "../helpers/fleetgate.js";

describe("telemetry and commands", () => {
  it("carries seq and ts with plausible readings, and parses back", () => {
    const reading = new SensorState().read(7, 1_000);
    expect(reading).toMatchObject({ seq: 7, ts: 1_000 });
    expect(reading.temperature).toBeGreaterThan(-20);
    expect(reading.humidity).toBeLessThanOrEqual(100);
    expect(parseTelemetry(JSON.stringify(reading))).toEqual({ seq: 7, ts: 1_000 });
    expect(parseTelemetry("not json")).toBeNull();
    expect(parseTelemetry('{"seq":1.5,"ts":1}')).toBeNull();
  });

  it("answers ping, and says so for anything else", () => {
    expect(answerTo("devices/d1/commands/ping", '{"id":"c1"}')).toEqual({ command: "ping", id: "c1", ok: true });
    expect(answerTo("devices/d1/commands/reboot", '{"id":"c2"}')).toEqual({
      command: "reboot",
      id: "c2",
      ok: false,
      error: "unknown command",
    });
    expect(answerTo("devices/d1/commands/ping", "{")).toMatchObject({ ok: false, error: "malformed command" });
    expect(deviceIdOfTopic("devices/d1/telemetry")).toBe("d1");
    expect(deviceIdOfTopic("other/d1")).toBeNull();
  });
});

describe("classifyConnectError", () => {
  it("treats a CONNACK return code and a TLS alert about our certificate as refusals", () => {
    expect(classifyConnectError(Object.assign(new Error("Connection refused: Not authorized"), { code: 5 }))).toEqual({
      kind: "refused",
      reason: "CONNACK 5",
    });
    expect(
      classifyConnectError(Object.assign(new Error("alert"), { code: "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED" })).kind,
    ).toBe("refused");
  });

  it("treats network errors as transient", () => {
    expect(classifyConnectError(Object.assign(new Error("reset"), { code: "ECONNRESET" }))).toEqual({
      kind: "transient",
      reason: "ECONNRESET",
    });
  });
});

describe("Scheduler", () => {
  it("wakes sleepers on a tick at or after their time, and all of them on stop", async () => {
    const scheduler = new Scheduler(10);
    scheduler.start();
    const woke: string[] = [];
    const short = scheduler.sleep(20).then(() => woke.push("short"));
    const long = scheduler.sleep(60_000).then(() => woke.push("long"));
    await short;
    expect(woke).toEqual(["short"]);
    scheduler.stop();
    await long;
    expect(woke).toEqual(["short", "long"]);
    await scheduler.sleep(1_000); // stopped: resolves at once
  });

  it("calls tick hooks until they are removed", async () => {
    const scheduler = new Scheduler(5);
    let ticks = 0;
    const remove = scheduler.onTick(() => ticks++);
    scheduler.start();
    await scheduler.sleep(30);
    remove();
    const seen = ticks;
    await scheduler.sleep(30);
    scheduler.stop();
    expect(seen).toBeGreaterThan(0);
    expect(ticks).toBe(seen);
  });
});

describe("CredentialStore", () => {
  const root = mkdtempSync(join(tmpdir(), "fleetgate-sim-store-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** A self-signed certificate stands in for an issued one: the store only reads serial and dates. */
  function selfSigned(cn: string): { certPem: string; keyPem: string } {
    const { csrPem, keyPem } = opensslCsr(`/CN=${cn}`);
    const keyFile = join(root, `${cn}.tmp.key`);
    writeFileSync(keyFile, keyPem, { mode: 0o600 });
    const certPem = execFileSync("openssl", ["x509", "-req", "-signkey", keyFile, "-days", "1"], {
      input: csrPem,
      stdio: ["pipe", "pipe", "ignore"],
    }).toString();
    rmSync(keyFile);
    return { certPem, keyPem };
  }

  it("finds nothing on first boot, then keeps the key private and reads back what it stored", async () => {
    const store = new CredentialStore(root);
    expect(await store.load("dev-a")).toBeNull();
    const { certPem, keyPem } = selfSigned("dev-a");
    await store.save({ deviceId: "dev-a", certPem, keyPem, serial: "ab", notAfter: 2, obtainedAt: 1, issuer: "CN=x" });
    expect(statSync(join(root, "dev-a", "key.pem")).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, "dev-a")).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(root, "dev-a", "cert.pem"), "utf8")).toBe(certPem);
    const loaded = await store.load("dev-a");
    expect(loaded).toMatchObject({ deviceId: "dev-a", keyPem, certPem });
    expect(loaded!.notAfter).toBeGreaterThan(Date.now());
  });
});

describe("renewalTime", () => {
  it("renews at two thirds of the lifetime from receipt, moved by at most half the jitter either way", () => {
    const at = (random: number) => renewalTime(1_000, 121_000, 2 / 3, 0.1, () => random);
    expect(at(0.5)).toBe(1_000 + 80_000);
    expect(at(0)).toBeCloseTo(1_000 + 120_000 * (2 / 3 - 0.05));
    expect(at(1)).toBeCloseTo(1_000 + 120_000 * (2 / 3 + 0.05));
    expect(renewalTime(0, 90, 2 / 3, 0, () => 0.9)).toBe(60);
  });

  it("never pushes a renewal past the certificate's end, whatever the jitter", () => {
    for (const random of [0, 0.25, 0.75, 1]) {
      const t = renewalTime(0, 1_000, 2 / 3, 5, () => random);
      expect(t).toBeGreaterThanOrEqual(333);
      expect(t).toBeLessThanOrEqual(1_000);
    }
  });
});
