import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import * as mq from "../../helpers/mqtt-bytes.js";
import { signerIssuedCertificate, type CertFiles } from "../../helpers/mqtt-certs.js";
import { metricValue, waitForLogs } from "../../helpers/mqtt-kit.js";

/*
 * Hardening, break 4, MQTT side: a resumed TLS session restores the first handshake's verdict on the
 * client certificate, dates included. Promise protected: admission judges the certificate's validity
 * on every CONNECT, so a session resumed after the certificate expired is refused with CONNACK 5
 * (counted as certificate_expired), while a fresh handshake with it fails verification. (MQTT admission
 * already checked the dates before the hardening, 2cd67a4 authorize-client.ts; this guards it, on both
 * TLS versions, next to the EST case in test/adapters/http/hardening-resumed-session.test.ts.)
 */

let fg: TestFleetgate;
const made: CertFiles[] = [];

beforeAll(async () => {
  fg = await startTestFleetgate();
});
afterAll(async () => {
  for (const certificate of made) certificate.cleanup();
  await fg?.close();
});

/** A CONNECT over a new TLS connection (resuming `session` when given); the session to resume next time. */
async function connectOnce(
  certificate: CertFiles,
  maxVersion: "TLSv1.2" | "TLSv1.3",
  session?: Buffer,
): Promise<{ code: number | null; reused: boolean; session: Buffer | undefined }> {
  const wire = await mq.openTls(fg, fg.running.ports.mqtt, certificate, { maxVersion, session });
  const reused = wire.socket.isSessionReused();
  wire.send(mq.connect({ clientId: certificate.id, clean: true }));
  await wire.waitFor((r) => mq.connackCode(r) !== null, "CONNACK");
  const code = mq.connackCode(wire.received());
  wire.send(mq.DISCONNECT);
  await wire.closed;
  return { code, reused, session: wire.session() };
}

describe.each(["TLSv1.3", "TLSv1.2"] as const)("MQTT admission over a resumed %s session", (version) => {
  it("admits while valid, refuses once the certificate has expired (certificate_expired)", async () => {
    const id = `resume-${version === "TLSv1.3" ? 13 : 12}`;
    const certificate = await signerIssuedCertificate(fg, id, { lifetimeMs: 3_000, record: true });
    made.push(certificate);
    const first = await connectOnce(certificate, version);
    expect({ code: first.code, reused: first.reused }).toEqual({ code: 0, reused: false });
    expect(first.session).toBeDefined();
    // Resumption works while the certificate is valid.
    const second = await connectOnce(certificate, version, first.session);
    expect({ code: second.code, reused: second.reused }).toEqual({ code: 0, reused: true });

    const notAfter = Date.parse(new X509Certificate(certificate.certPem).validTo);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, notAfter + 1_100 - Date.now())));
    const expired = await metricValue(fg, "fleetgate_mqtt_refusals_total", { reason: "certificate_expired" });
    const resumed = await connectOnce(certificate, version, second.session ?? first.session);
    expect({ code: resumed.code, reused: resumed.reused }).toEqual({ code: 5, reused: true });
    expect(await metricValue(fg, "fleetgate_mqtt_refusals_total", { reason: "certificate_expired" })).toBe(expired + 1);
    await waitForLogs(fg, {
      msg: "connection refused",
      reason: "certificate_expired",
      detail: `serial ${certificate.serial}`,
    });

    // Without the session, the handshake itself fails verification.
    const failures = await metricValue(fg, "fleetgate_mqtt_handshake_failures_total", {
      reason: "certificate_expired",
    });
    // (TLS 1.2 fails the client's handshake; in TLS 1.3 the client finishes first and sees the close.)
    const fresh = mq.openTls(fg, fg.running.ports.mqtt, certificate, { maxVersion: version });
    await fresh.then((wire) => wire.closed).catch(() => undefined);
    await waitForLogs(fg, { msg: "TLS handshake failed", reason: "certificate_expired" });
    expect(
      await metricValue(fg, "fleetgate_mqtt_handshake_failures_total", { reason: "certificate_expired" }),
    ).toBeGreaterThan(failures);
  });
});
