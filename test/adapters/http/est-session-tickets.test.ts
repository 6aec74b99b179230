import { readFileSync } from "node:fs";
import { request } from "node:https";
import type { TLSSocket } from "node:tls";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revokeDevice } from "../../../src/app/revoke-device.js";
import { createEnrollServer } from "../../../src/adapters/http/enroll-server.js";
import { readPrivateKeyPem } from "../../../src/adapters/shared/key-files.js";
import { loadTicketSecret, TicketKeyRotation } from "../../../src/adapters/shared/ticket-keys.js";
import { Metrics } from "../../../src/metrics.js";
import { estBody, webCryptoCsr } from "../../helpers/certs.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { signerIssuedCertificate, type CertFiles } from "../../helpers/mqtt-certs.js";
import { waitForLogs } from "../../helpers/mqtt-kit.js";

/*
 * The enrollment listener's session tickets: shared with a second enrollment server (another node)
 * whose keys derive from the same pki/tls-ticket.secret, and never a way around renewal's checks: a
 * revoked device resuming its session is refused simplereenroll, and nothing is issued.
 */

const EST = "/.well-known/est";
let fg: TestFleetgate;
let second: FastifyInstance;
let secondUrl: string;
let rotation: TicketKeyRotation;
const made: CertFiles[] = [];

beforeAll(async () => {
  fg = await startTestFleetgate();
  rotation = new TicketKeyRotation(loadTicketSecret(fg.pki.ticketSecret), fg.config.tlsSessions.ticketKeyRotation);
  rotation.start();
  const tls = {
    key: readPrivateKeyPem(fg.pki.serverKey),
    cert: readFileSync(fg.pki.serverCert),
    ca: [fg.running.deps.signer.issuingCaPem, fg.rootCaPem],
  };
  const { bodyLimit, rateLimit } = fg.config.enroll;
  second = await createEnrollServer({
    deps: fg.running.deps,
    tls,
    sessionTickets: rotation.listener("enroll"),
    bodyLimit,
    rateLimit,
    limits: fg.config.enroll,
    logger: fg.logger,
    metrics: new Metrics(),
  });
  await second.listen({ host: "127.0.0.1", port: 0 });
  secondUrl = `https://localhost:${(second.server.address() as { port: number }).port}`;
});
afterAll(async () => {
  rotation?.stop();
  for (const certificate of made) certificate.cleanup();
  await second?.close();
  await fg?.close();
});

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly reused: boolean;
  /** The latest TLS session the server sent on this connection: what a device keeps to resume with. */
  readonly session: Buffer | undefined;
}

/** One request on a fresh connection (no agent), offering `session` when given. */
function send(
  base: string,
  session: Buffer | undefined,
  identity: CertFiles,
  path: string,
  version: string,
  body?: string,
) {
  return new Promise<Answer>((resolve, reject) => {
    let latest: Buffer | undefined;
    const req = request(
      `${base}${path}`,
      {
        method: body === undefined ? "GET" : "POST",
        headers: body === undefined ? {} : { "content-type": "application/pkcs10" },
        ca: fg.rootCaPem,
        cert: identity.certPem,
        key: identity.keyPem,
        maxVersion: version as "TLSv1.2" | "TLSv1.3",
        agent: false,
        ...(session === undefined ? {} : { session }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        const reused = (res.socket as TLSSocket).isSessionReused();
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), reused, session: latest }),
        );
        res.on("error", reject);
      },
    );
    req.on("socket", (socket) => socket.on("session", (ticket: Buffer) => (latest = ticket)));
    req.on("error", reject);
    req.end(body);
  });
}

async function renewalBody(id: string): Promise<string> {
  const { csrDer } = await webCryptoCsr([{ CN: [id] }]);
  return estBody(csrDer, true);
}

async function device(id: string): Promise<CertFiles> {
  const certificate = await signerIssuedCertificate(fg, id, { record: true });
  made.push(certificate);
  return certificate;
}

describe.each(["TLSv1.3", "TLSv1.2"] as const)("EST over session tickets (%s)", (version) => {
  const tag = version === "TLSv1.3" ? "13" : "12";

  it("a session made on one enrollment node resumes on the other, and renews there", async () => {
    const id = `est-tickets-${tag}`;
    const certificate = await device(id);
    const first = await send(fg.enrollUrl, undefined, certificate, `${EST}/cacerts`, version);
    expect({ status: first.status, reused: first.reused }).toEqual({ status: 200, reused: false });
    const body = await renewalBody(id);
    const renewed = await send(secondUrl, first.session, certificate, `${EST}/simplereenroll`, version, body);
    expect({ status: renewed.status, reused: renewed.reused }).toEqual({ status: 200, reused: true });
  });

  it("a revoked device resuming its session is refused simplereenroll: 403 device_revoked, nothing issued", async () => {
    const id = `est-tickets-revoked-${tag}`;
    const certificate = await device(id);
    const first = await send(fg.enrollUrl, undefined, certificate, `${EST}/cacerts`, version);
    expect({ status: first.status, reused: first.reused }).toEqual({ status: 200, reused: false });
    await revokeDevice(fg.running.revocation, id, "keyCompromise", "test");
    const auditBefore = (await fg.running.registry.auditHead()).seq;
    const body = await renewalBody(id);
    const resumed = await send(fg.enrollUrl, first.session, certificate, `${EST}/simplereenroll`, version, body);
    expect(resumed.reused).toBe(true);
    expect({ status: resumed.status, code: (JSON.parse(resumed.body) as { code: string }).code }).toEqual({
      status: 403,
      code: "device_revoked",
    });
    await waitForLogs(fg, { msg: "request refused", code: "device_revoked" });
    expect(await fg.running.registry.listCertificates(id)).toHaveLength(1);
    expect((await fg.running.registry.auditHead()).seq).toBe(auditBefore);
  });
});
