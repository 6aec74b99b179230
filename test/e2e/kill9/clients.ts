import { Agent } from "node:https";
import { x509 } from "../../../src/adapters/shared/x509.js";
import { normalizeSerial } from "../../../src/domain/identity.js";
import { csrPemToDer, estBody, webCryptoCsr } from "../../helpers/certs.js";
import type { Attempt, Grant, Outcome, Revocation } from "./ledger.js";
import type { Admin, Serving } from "./server.js";
import { exchange, refusalCode, type Exchange } from "./wire.js";

/**
 * The fleet's and the operator's side of the storm: devices enrolling with a fresh key over JSON
 * (`POST /v1/enroll`) or EST (`simpleenroll`, Basic device-id:token), and revocations through the admin
 * API. Each call records what the client was told; none throws on a dead server.
 */
const ENROLL_DEADLINE_MS = 15_000;

function classify<Ok>(answer: Exchange, ok: (body: string) => Ok): Outcome<Ok> {
  if (answer.kind !== "answered") return answer;
  if (answer.status >= 200 && answer.status < 300) return { kind: "ok", ...ok(answer.body) };
  return { kind: "refused", status: answer.status, code: refusalCode(answer) };
}

function serialOfPem(pem: string): { serial: string } {
  return { serial: normalizeSerial(new x509.X509Certificate(pem).serialNumber) };
}

/** RFC 7030 §4.2.3: base64 certs-only PKCS#7 holding the issued certificate. */
function serialOfCertsOnly(body: string): { serial: string } {
  const [certificate] = new x509.X509Certificates(body.replace(/\s+/g, ""));
  if (certificate === undefined) throw new Error("EST answer without a certificate");
  return { serial: normalizeSerial(certificate.serialNumber) };
}

type Csr = Awaited<ReturnType<typeof webCryptoCsr>>;

function sendEnrollment(serving: Serving, grant: Grant, attempt: Attempt, csr: Csr, agent?: Agent): Promise<Exchange> {
  const base = `https://localhost:${serving.ports.enroll}`;
  const common = { method: "POST", ca: serving.rootCa, timeoutMs: ENROLL_DEADLINE_MS, ...(agent ? { agent } : {}) };
  if (attempt.via === "json")
    return exchange(`${base}/v1/enroll`, {
      ...common,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: grant.token, csr: csr.csrPem }),
    });
  const basic = Buffer.from(`${attempt.deviceId}:${grant.token}`).toString("base64");
  return exchange(`${base}/.well-known/est/simpleenroll`, {
    ...common,
    headers: { "content-type": "application/pkcs10", authorization: `Basic ${basic}` },
    body: estBody(csrPemToDer(csr.csrPem), true),
  });
}

function record(attempt: Attempt, answer: Exchange): void {
  attempt.outcome = classify(answer, (body) =>
    attempt.via === "json"
      ? serialOfPem((JSON.parse(body) as { certificate: string }).certificate)
      : serialOfCertsOnly(body),
  );
}

/** One device's first boot: a fresh key, one request on a fresh connection. */
export async function enroll(serving: Serving, grant: Grant, attempt: Attempt): Promise<void> {
  const csr = await webCryptoCsr([{ CN: [attempt.deviceId] }]);
  record(attempt, await sendEnrollment(serving, grant, attempt, csr));
}

/**
 * Racers spending one token together, on connections already through the TLS handshake (a warm-up
 * `GET cacerts` each), so that all requests reach the server at once and all pass the early token check:
 * only the check inside the unit of work that spends the token stands between them and a double spend.
 */
export async function race(serving: Serving, grant: Grant, racers: readonly Attempt[]): Promise<void> {
  const csrs = await Promise.all(racers.map((a) => webCryptoCsr([{ CN: [a.deviceId] }])));
  const agents = racers.map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
  try {
    const cacerts = `https://localhost:${serving.ports.enroll}/.well-known/est/cacerts`;
    await Promise.all(
      agents.map((agent) =>
        exchange(cacerts, { method: "GET", ca: serving.rootCa, timeoutMs: ENROLL_DEADLINE_MS, agent }),
      ),
    );
    const answers = await Promise.all(racers.map((a, i) => sendEnrollment(serving, grant, a, csrs[i]!, agents[i])));
    racers.forEach((a, i) => record(a, answers[i]!));
  } finally {
    for (const agent of agents) agent.destroy();
  }
}

export async function revoke(admin: Admin, revocation: Revocation): Promise<void> {
  const answer = await admin.send("POST", `/v1/devices/${revocation.deviceId}/revoke`, { reason: revocation.reason });
  revocation.outcome = classify(answer, (body) => {
    const result = JSON.parse(body) as { serials: string[]; alreadyRevoked: boolean };
    return { serials: result.serials.map(normalizeSerial), alreadyRevoked: result.alreadyRevoked };
  });
}

/** A token through the admin API; setup, so it must be acknowledged (the storm has not begun yet). */
export async function createToken(
  admin: Admin,
  scope: { deviceId: string } | { prefix: string; uses: number },
): Promise<Grant> {
  const issued = await admin.json<{ id: string; token: string }>("POST", "/v1/tokens", { ...scope, ttl: "1h" });
  return {
    id: issued.id,
    token: issued.token,
    deviceId: "deviceId" in scope ? scope.deviceId : null,
    prefix: "prefix" in scope ? scope.prefix : null,
    uses: "uses" in scope ? scope.uses : 1,
  };
}
