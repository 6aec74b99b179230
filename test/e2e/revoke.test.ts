import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killChildren, mosquittoSub, runCli, runCliJson, type Spawned } from "../helpers/cli.js";
import { connectDevice, enrollDevice, nextMessage, type EnrolledDevice } from "../helpers/devices.js";
import { opensslCsr, pemToBase64Body, startTestFleetgate, type TestFleetgate } from "../helpers/fleetgate.js";
import { httpsRequest, postJson } from "../helpers/https.js";
import { allAudit } from "../helpers/registry.js";

/**
 * Story: an operator revokes lost devices from the CLI while they are connected. dev-1 is on
 * MQTT.js, dev-3 on mosquitto_sub (two different devices: one client id per device, and a second
 * session with the same id would take the first over), dev-2 is an unrelated device.
 */
type Row = Record<string, unknown>;

/** Resolves with Date.now() at the client's first 'close' after this call. */
function closedAt(client: MqttClient): Promise<number> {
  return new Promise((resolve) => client.once("close", () => resolve(Date.now())));
}

/** The CONNACK return code a connect attempt is refused with (MQTT.js rejects with it as `code`). */
async function refusalCode(
  fg: TestFleetgate,
  device: { id: string; certPem: string; keyPem: string },
): Promise<number | undefined> {
  let client: MqttClient;
  try {
    client = await connectDevice(fg, device);
  } catch (error) {
    return (error as { code?: number }).code;
  }
  client.end(true);
  throw new Error(`${device.id} was admitted`);
}

function estReenroll(fg: TestFleetgate, device: { id: string; certPem: string; keyPem: string }) {
  const { csrPem } = opensslCsr(`/CN=${device.id}`);
  return httpsRequest(`${fg.enrollUrl}/.well-known/est/simplereenroll`, {
    method: "POST",
    headers: { "content-type": "application/pkcs10" },
    body: pemToBase64Body(csrPem),
    ca: fg.rootCaPem,
    cert: device.certPem,
    key: device.keyPem,
  });
}

describe("e2e: operators revoke lost devices", { timeout: 90_000 }, () => {
  let fg: TestFleetgate;
  let dev1: EnrolledDevice;
  let dev2: EnrolledDevice;
  let dev3: EnrolledDevice;
  let svc: EnrolledDevice;
  const clients: MqttClient[] = [];
  const devices: EnrolledDevice[] = [];
  /** deviceId → server time the revocation was committed (the event carries it). */
  const revokedAt = new Map<string, number>();
  let dev2Client: MqttClient;
  let serviceClient: MqttClient;
  let sub3: Spawned;

  beforeAll(async () => {
    fg = await startTestFleetgate();
    fg.running.revocation.bus.onRevocation((event) => void revokedAt.set(event.deviceId, event.at));
    [dev1, dev2, dev3, svc] = await Promise.all([
      enrollDevice(fg, "dev-1"),
      enrollDevice(fg, "dev-2"),
      enrollDevice(fg, "dev-3"),
      enrollDevice(fg, "svc-1", "service"),
    ]);
    devices.push(dev1, dev2, dev3, svc);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await killChildren();
    await fg?.close();
    for (const d of devices) d.cleanup();
  });

  it("revoke through the CLI closes the MQTT.js socket and ends mosquitto_sub, both within 2 s", async () => {
    const client1 = await connectDevice(fg, dev1);
    clients.push(client1);
    await client1.subscribeAsync("devices/dev-1/commands/#", { qos: 1 });
    sub3 = mosquittoSub(fg, dev3.files, "dev-3", "devices/dev-3/commands/#");
    await sub3.waitForOutput("received SUBACK");
    dev2Client = await connectDevice(fg, dev2);
    clients.push(dev2Client);
    await dev2Client.subscribeAsync("devices/dev-2/commands/#", { qos: 1 });
    serviceClient = await connectDevice(fg, svc);
    clients.push(serviceClient);

    const shown = await runCliJson<Row>(fg, ["device", "show", "dev-3"]);
    expect(shown).toMatchObject({ id: "dev-3", status: "active", online: true });
    expect(shown["sessions"]).toHaveLength(1);

    const client1Closed = closedAt(client1);
    const [r1, r3] = await Promise.all([
      runCli(fg, ["device", "revoke", "dev-1", "--reason", "keyCompromise"]),
      runCli(fg, ["device", "revoke", "dev-3", "--reason", "cessationOfOperation"]),
    ]);
    expect(r1, r1.stderr).toMatchObject({ code: 0 });
    expect(r1.stdout).toContain("device dev-1 revoked (keyCompromise): 1 certificate(s), 1 live session(s) closed");
    expect(r3, r3.stderr).toMatchObject({ code: 0 });
    expect(r3.stdout).toContain("device dev-3 revoked (cessationOfOperation)");

    const closed1 = await client1Closed;
    const sub3Result = await sub3.exited;
    expect(sub3Result.killedOnTimeout).toBe(false);
    const delay1 = closed1 - revokedAt.get("dev-1")!;
    const delay3 = sub3.exitedAt()! - revokedAt.get("dev-3")!;
    console.log(
      `revoke → socket closed: MQTT.js dev-1 ${delay1} ms, mosquitto_sub dev-3 exited ${delay3} ms (exit ${sub3Result.code}; ${sub3Result.stderr.trim().split("\n").slice(-2).join(" | ")})`,
    );
    expect(delay1).toBeLessThan(2_000);
    expect(delay3).toBeLessThan(2_000);
    expect(sub3Result.code).not.toBe(0);
    expect((await fg.running.gateway.sessions.sessionsOf("dev-1")).length).toBe(0);
    expect((await fg.running.gateway.sessions.sessionsOf("dev-3")).length).toBe(0);
  });

  it("leaves an unrelated device connected and receiving commands", async () => {
    expect(dev2Client.connected).toBe(true);
    const got = nextMessage(dev2Client);
    await serviceClient.publishAsync("devices/dev-2/commands/reboot", "now", { qos: 1 });
    expect(await got).toEqual({ topic: "devices/dev-2/commands/reboot", payload: "now" });
    expect((await fg.running.gateway.sessions.sessionsOf("dev-2")).length).toBe(1);
  });

  it("refuses reconnects of revoked devices at admission (CONNACK 5)", async () => {
    expect(await refusalCode(fg, dev1)).toBe(5);
    const again = mosquittoSub(fg, dev3.files, "dev-3", "devices/dev-3/commands/#");
    const result = await again.exited;
    expect(result.killedOnTimeout).toBe(false);
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/not authori[sz]ed/i);
  });

  it("shows the device and its certificates as revoked, with the reason", async () => {
    const [device, revoked, active] = await Promise.all([
      runCliJson<Row>(fg, ["device", "show", "dev-1"]),
      runCliJson<Row[]>(fg, ["device", "list", "--status", "revoked"]),
      runCliJson<Row[]>(fg, ["device", "list", "--status", "active"]),
    ]);
    expect(device).toMatchObject({ id: "dev-1", status: "revoked", revocationReason: "keyCompromise", online: false });
    const certificates = device["certificates"] as Row[];
    expect(certificates.length).toBeGreaterThanOrEqual(1);
    for (const certificate of certificates)
      expect(certificate).toMatchObject({ status: "revoked", revocationReason: "keyCompromise" });

    expect(revoked.map((d) => d["id"]).sort()).toEqual(["dev-1", "dev-3"]);
    expect(active.map((d) => d["id"])).toContain("dev-2");
  });

  it("refuses bad revocations: unknown device → not_found, unknown reason → malformed_request (exit 1)", async () => {
    const [unknown, badReason] = await Promise.all([
      runCli(fg, ["device", "revoke", "no-such-device"]),
      runCli(fg, ["device", "revoke", "dev-2", "--reason", "lostInTheWoods"]),
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("not_found");
    expect(badReason.code).toBe(1);
    expect(badReason.stderr).toContain("malformed_request");
    expect((await fg.running.registry.getDevice("dev-2"))?.status).toBe("active");
  });

  it("revoking a revoked device again keeps (and reports) the original reason, and audits nothing new", async () => {
    const auditBefore = (await allAudit(fg.running.registry)).length;
    const again = await runCliJson<Row>(fg, ["device", "revoke", "dev-1", "--reason", "superseded"]);
    expect(again).toMatchObject({ deviceId: "dev-1", reason: "keyCompromise", alreadyRevoked: true, serials: [] });
    expect(await fg.running.registry.getDevice("dev-1")).toMatchObject({
      status: "revoked",
      revocationReason: "keyCompromise",
    });
    expect(await allAudit(fg.running.registry)).toHaveLength(auditBefore);
  });

  it("refuses enrollment and EST re-enrollment of a revoked device id", async () => {
    const issued = await runCliJson<{ token: string }>(fg, ["token", "create", "--device", "dev-1"]);
    const { csrPem } = opensslCsr("/CN=dev-1");
    const enroll = await postJson(fg.enrollUrl, "/v1/enroll", { token: issued.token, csr: csrPem }, fg.rootCaPem);
    expect(enroll.status).toBe(403);
    expect(enroll.json()).toMatchObject({ code: "device_revoked" });

    const reenroll = await estReenroll(fg, dev1);
    expect(reenroll.status).toBe(403);
    expect(reenroll.json()).toMatchObject({ code: "device_revoked" });
  });

  it("after `device reset` a new token enrolls the device again; the old certificate stays dead", async () => {
    const reset = await runCli(fg, ["device", "reset", "dev-1"]);
    expect(reset, reset.stderr).toMatchObject({ code: 0 });
    expect(reset.stdout).toContain("device dev-1 reset");
    const again = await runCli(fg, ["device", "reset", "dev-1"]);
    expect(again.code).toBe(1);

    const issued = await runCliJson<{ token: string }>(fg, ["token", "create", "--device", "dev-1"]);
    const { csrPem, keyPem } = opensslCsr("/CN=dev-1");
    const enroll = await postJson(fg.enrollUrl, "/v1/enroll", { token: issued.token, csr: csrPem }, fg.rootCaPem);
    expect(enroll.status, enroll.body).toBe(201);
    const fresh = { id: "dev-1", certPem: enroll.json<{ certificate: string }>().certificate, keyPem };

    const client = await connectDevice(fg, fresh);
    clients.push(client);
    expect(client.connected).toBe(true);
    await client.endAsync();

    expect(await refusalCode(fg, dev1)).toBe(5);
    const oldReenroll = await estReenroll(fg, dev1);
    expect(oldReenroll.status).toBe(403);
    expect(oldReenroll.json()).toMatchObject({ code: "certificate_not_active" });

    const device = await runCliJson<Row>(fg, ["device", "show", "dev-1"]);
    expect(device).toMatchObject({ status: "active", revocationReason: null });
    const statuses = (device["certificates"] as Row[]).map((c) => c["status"]);
    expect(statuses.sort()).toEqual(["active", "revoked"]);
  });
});
