import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certificateFacts, type DeviceCredential } from "../../device-sim/credential-store.js";
import { connectOnce } from "../../device-sim/mqtt-link.js";
import { TlsSessionSlot } from "../../device-sim/tls-session.js";
import type { FleetEndpoints } from "../../device-sim/types.js";
import { startTestFleetgate, type TestFleetgate } from "../helpers/fleetgate.js";
import { signerIssuedCertificate, type CertFiles } from "../helpers/mqtt-certs.js";

/*
 * The simulator's devices keep their TLS session (the latest ticket the broker sent) and offer it on
 * the next connect, as firmware does: the reconnect is a resumed handshake. A session made with a
 * certificate is never offered with its successor (after a renewal), which connects with a full one.
 */

let fg: TestFleetgate;
let endpoints: FleetEndpoints;
const made: CertFiles[] = [];

beforeAll(async () => {
  fg = await startTestFleetgate();
  endpoints = { enrollUrl: fg.enrollUrl, mqttHost: "localhost", mqttPort: fg.running.ports.mqtt, caPem: fg.rootCaPem };
});
afterAll(async () => {
  for (const certificate of made) certificate.cleanup();
  await fg?.close();
});

async function credentialOf(id: string): Promise<DeviceCredential> {
  const certificate = await signerIssuedCertificate(fg, id, { record: true });
  made.push(certificate);
  const { certPem, keyPem } = certificate;
  return { deviceId: id, certPem, keyPem, ...certificateFacts(certPem), obtainedAt: Date.now() };
}

/** Connects, then disconnects cleanly; whether the handshake was resumed. */
async function connectAndLeave(credential: DeviceCredential, slot: TlsSessionSlot): Promise<boolean> {
  const outcome = await connectOnce(endpoints, credential, undefined, 10_000, endpoints, slot);
  if (!outcome.ok) throw new Error(`connect refused: ${outcome.reason}`);
  await outcome.client.endAsync();
  return outcome.resumed;
}

describe("simulated device TLS sessions", () => {
  it("resumes its session on every reconnect", async () => {
    const credential = await credentialOf("sim-resume-1");
    const slot = new TlsSessionSlot();
    expect(slot.offer(credential)).toBeUndefined();
    expect(await connectAndLeave(credential, slot)).toBe(false);
    expect(slot.offer(credential)).toBeInstanceOf(Buffer);
    expect(await connectAndLeave(credential, slot)).toBe(true);
    expect(await connectAndLeave(credential, slot)).toBe(true);
  });

  it("does not offer a session made with its previous certificate after a renewal", async () => {
    const before = await credentialOf("sim-resume-2");
    const slot = new TlsSessionSlot();
    expect(await connectAndLeave(before, slot)).toBe(false);
    const renewed = await credentialOf("sim-resume-2");
    expect(renewed.serial).not.toBe(before.serial);
    expect(slot.offer(renewed)).toBeUndefined();
    expect(await connectAndLeave(renewed, slot)).toBe(false);
    expect(await connectAndLeave(renewed, slot)).toBe(true);
  });
});
