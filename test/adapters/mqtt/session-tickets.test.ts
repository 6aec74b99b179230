import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revokeDevice } from "../../../src/app/revoke-device.js";
import { loadTicketSecret, TicketKeyRotation } from "../../../src/adapters/shared/ticket-keys.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import * as mq from "../../helpers/mqtt-bytes.js";
import { signerIssuedCertificate, type CertFiles } from "../../helpers/mqtt-certs.js";
import { startExtraGateway, type ExtraGateway } from "../../helpers/mqtt-gateway.js";
import { metricValue, waitForLogs } from "../../helpers/mqtt-kit.js";

/*
 * TLS session tickets shared by two nodes: the test fleetgate and a second gateway (its own TLS server,
 * its own rotation) whose ticket keys derive from the same pki/tls-ticket.secret. A device resumes on
 * either node with the other's ticket; a ticket from before a rotation gets a full handshake instead;
 * and a resumed handshake never skips admission: a revoked device is refused its CONNACK.
 */

const PERIOD_MS = 3_000;
let fg: TestFleetgate;
let other: ExtraGateway;
let rotation: TicketKeyRotation;
const made: CertFiles[] = [];

beforeAll(async () => {
  fg = await startTestFleetgate({ tlsSessions: { ticketKeyRotation: PERIOD_MS } });
  rotation = new TicketKeyRotation(loadTicketSecret(fg.pki.ticketSecret), PERIOD_MS);
  rotation.start();
  other = await startExtraGateway(fg, { sessionTickets: rotation.listener("mqtt") });
});
afterAll(async () => {
  rotation?.stop();
  for (const certificate of made) certificate.cleanup();
  await other?.close();
  await fg?.close();
});

async function device(id: string): Promise<CertFiles> {
  const certificate = await signerIssuedCertificate(fg, id, { record: true });
  made.push(certificate);
  return certificate;
}

/** CONNECT over a new TLS connection to `port` (resuming `session` when given); the session to resume next. */
async function connectOnce(port: number, certificate: CertFiles, version: "TLSv1.2" | "TLSv1.3", session?: Buffer) {
  const wire = await mq.openTls(fg, port, certificate, { maxVersion: version, session });
  const reused = wire.socket.isSessionReused();
  wire.send(mq.connect({ clientId: certificate.id, clean: true }));
  await wire.waitFor((r) => mq.connackCode(r) !== null, "CONNACK");
  const code = mq.connackCode(wire.received());
  wire.send(mq.DISCONNECT);
  await wire.closed;
  return { code, reused, session: wire.session() };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits, if need be, so that at least half a period is left before the next rotation. */
async function earlyInPeriod(): Promise<void> {
  const left = PERIOD_MS - (Date.now() % PERIOD_MS);
  if (left < PERIOD_MS / 2) await sleep(left + 100);
}

/** Waits until the next rotation has happened on both nodes. */
async function pastNextRotation(): Promise<void> {
  await sleep(PERIOD_MS - (Date.now() % PERIOD_MS) + 300);
}

describe.each(["TLSv1.3", "TLSv1.2"] as const)("MQTT session tickets across two nodes over %s", (version) => {
  const tag = version === "TLSv1.3" ? "13" : "12";
  const ports = () => ({ a: fg.running.ports.mqtt, b: other.port });

  it("a ticket from one node resumes on the other, both ways, within its period", async () => {
    const certificate = await device(`tickets-both-${tag}`);
    await earlyInPeriod();
    const first = await connectOnce(ports().a, certificate, version);
    expect({ code: first.code, reused: first.reused }).toEqual({ code: 0, reused: false });
    const onB = await connectOnce(ports().b, certificate, version, first.session);
    expect({ code: onB.code, reused: onB.reused }).toEqual({ code: 0, reused: true });
    const backOnA = await connectOnce(ports().a, certificate, version, onB.session ?? first.session);
    expect({ code: backOnA.code, reused: backOnA.reused }).toEqual({ code: 0, reused: true });
  });

  it("after a rotation the old ticket is not accepted: a full handshake instead, still admitted", async () => {
    const certificate = await device(`tickets-rotated-${tag}`);
    await earlyInPeriod();
    const first = await connectOnce(ports().a, certificate, version);
    expect(first.reused).toBe(false);
    await pastNextRotation();
    const onB = await connectOnce(ports().b, certificate, version, first.session);
    expect({ code: onB.code, reused: onB.reused }).toEqual({ code: 0, reused: false });
    const onA = await connectOnce(ports().a, certificate, version, first.session);
    expect({ code: onA.code, reused: onA.reused }).toEqual({ code: 0, reused: false });
    // The new period's ticket resumes again, on the other node.
    const again = await connectOnce(ports().b, certificate, version, onA.session);
    expect({ code: again.code, reused: again.reused }).toEqual({ code: 0, reused: true });
  });

  it("a revoked device resuming its session (on either node) is refused its CONNACK", async () => {
    const certificate = await device(`tickets-revoked-${tag}`);
    await earlyInPeriod();
    const first = await connectOnce(ports().a, certificate, version);
    expect({ code: first.code, reused: first.reused }).toEqual({ code: 0, reused: false });
    await revokeDevice(fg.running.revocation, certificate.id, "keyCompromise", "test");
    const refusals = await metricValue(fg, "fleetgate_mqtt_refusals_total", { reason: "certificate_not_active" });
    const onA = await connectOnce(ports().a, certificate, version, first.session);
    expect({ code: onA.code, reused: onA.reused }).toEqual({ code: 5, reused: true });
    expect(await metricValue(fg, "fleetgate_mqtt_refusals_total", { reason: "certificate_not_active" })).toBe(
      refusals + 1,
    );
    const onB = await connectOnce(ports().b, certificate, version, first.session);
    expect({ code: onB.code, reused: onB.reused }).toEqual({ code: 5, reused: true });
    await waitForLogs(fg, { msg: "connection refused", reason: "certificate_not_active" });
  });
});

describe("MQTT session tickets across a PKI reload", () => {
  it("a ticket from before the reload (SIGHUP, CA rollover) still resumes: the new context gets the current keys", async () => {
    const certificate = await device("tickets-reload");
    // After a rotation: a reloaded context without the current keys would fall back to the start-up ones.
    await pastNextRotation();
    const first = await connectOnce(fg.running.ports.mqtt, certificate, "TLSv1.3");
    expect(first.reused).toBe(false);
    await fg.running.pki.reload();
    const after = await connectOnce(fg.running.ports.mqtt, certificate, "TLSv1.3", first.session);
    expect({ code: after.code, reused: after.reused }).toEqual({ code: 0, reused: true });
  });
});
