import { X509Certificate } from "node:crypto";
import { Agent, request } from "node:https";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { estBody, webCryptoCsr } from "../../helpers/certs.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { signerIssuedCertificate, type CertFiles } from "../../helpers/mqtt-certs.js";
import { waitForLogs } from "../../helpers/mqtt-kit.js";

/*
 * Hardening, break 4 ("expired certificate renews itself"). A TLS session resumed from a ticket (TLS 1.3)
 * or a session id / ticket (TLS 1.2) skips certificate verification: the server restores the verdict of
 * the first handshake. Pre-fix (2cd67a4 src/app/renew-device.ts), simplereenroll checked only the
 * registry status, so a device whose certificate had expired since could renew it over a session
 * created while it was valid. Promise protected: the presented certificate's validity is judged on
 * every request; an expired one gets 401 client_certificate_required and nothing is issued.
 */

const EST = "/.well-known/est";

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly reused: boolean;
  readonly protocol: string | null;
}

/** One request through `agent` (which caches TLS sessions and offers them again), on a fresh connection. */
function send(
  fg: TestFleetgate,
  agent: Agent | false,
  identity: CertFiles,
  path: string,
  body?: string,
  maxVersion: "TLSv1.2" | "TLSv1.3" = "TLSv1.3",
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${fg.enrollUrl}${path}`,
      {
        method: body === undefined ? "GET" : "POST",
        headers: body === undefined ? {} : { "content-type": "application/pkcs10" },
        ca: fg.rootCaPem,
        cert: identity.certPem,
        key: identity.keyPem,
        maxVersion,
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        const socket = res.socket as TLSSocket;
        const reused = socket.isSessionReused();
        const protocol = socket.getProtocol();
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), reused, protocol }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function renewalBody(id: string): Promise<string> {
  const { csrDer } = await webCryptoCsr([{ CN: [id] }]);
  return estBody(csrDer, true);
}

/** Resolves once the certificate is past its notAfter (one-second resolution in the certificate). */
async function untilExpired(certificate: CertFiles): Promise<void> {
  const notAfter = Date.parse(new X509Certificate(certificate.certPem).validTo);
  const wait = notAfter + 1_100 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

let fg: TestFleetgate;
const made: CertFiles[] = [];

beforeAll(async () => {
  fg = await startTestFleetgate();
});
afterAll(async () => {
  for (const certificate of made) certificate.cleanup();
  await fg?.close();
});

async function recorded(id: string, lifetimeMs: number): Promise<CertFiles> {
  const certificate = await signerIssuedCertificate(fg, id, { lifetimeMs, record: true });
  made.push(certificate);
  return certificate;
}

describe.each(["TLSv1.3", "TLSv1.2"] as const)("EST simplereenroll over a resumed %s session", (version) => {
  it("renews while the certificate is valid (the resumed session itself is accepted)", async () => {
    const id = `resume-ok-${version === "TLSv1.3" ? 13 : 12}`;
    const certificate = await recorded(id, 86_400_000);
    const agent = new Agent({ keepAlive: false, maxCachedSessions: 10 });
    const first = await send(fg, agent, certificate, `${EST}/cacerts`, undefined, version);
    expect({ status: first.status, reused: first.reused, protocol: first.protocol }).toEqual({
      status: 200,
      reused: false,
      protocol: version,
    });
    const renewed = await send(fg, agent, certificate, `${EST}/simplereenroll`, await renewalBody(id), version);
    expect({ status: renewed.status, reused: renewed.reused }).toEqual({ status: 200, reused: true });
    agent.destroy();
  });

  it("refuses a certificate that expired since the session was made: 401, nothing issued", async () => {
    const id = `resume-expired-${version === "TLSv1.3" ? 13 : 12}`;
    const certificate = await recorded(id, 3_000);
    const agent = new Agent({ keepAlive: false, maxCachedSessions: 10 });
    const first = await send(fg, agent, certificate, `${EST}/cacerts`, undefined, version);
    expect({ status: first.status, reused: first.reused }).toEqual({ status: 200, reused: false });
    const auditBefore = (await fg.running.registry.auditHead()).seq;
    await untilExpired(certificate);

    const resumed = await send(fg, agent, certificate, `${EST}/simplereenroll`, await renewalBody(id), version);
    expect(resumed.reused).toBe(true);
    expect({ status: resumed.status, body: JSON.parse(resumed.body) as unknown }).toEqual({
      status: 401,
      body: { code: "client_certificate_required", message: expect.any(String) },
    });
    // The refusal came from the validity check, on the resumed session (the handshake had nothing to verify).
    await waitForLogs(fg, {
      msg: "request refused",
      code: "client_certificate_required",
      detail: `serial ${certificate.serial} is expired`,
    });
    expect(await fg.running.registry.listCertificates(id)).toHaveLength(1);
    expect((await fg.running.registry.getCertificate(certificate.serial))?.status).toBe("active");
    expect((await fg.running.registry.auditHead()).seq).toBe(auditBefore);

    // A fresh handshake with it fails verification: the same answer.
    const fresh = await send(fg, false, certificate, `${EST}/simplereenroll`, await renewalBody(id), version);
    expect({
      status: fresh.status,
      reused: fresh.reused,
      code: (JSON.parse(fresh.body) as { code: string }).code,
    }).toEqual({
      status: 401,
      reused: false,
      code: "client_certificate_required",
    });
    agent.destroy();
  });
});
