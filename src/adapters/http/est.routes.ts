import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { enrollDevice } from "../../app/enroll-device.js";
import { renewDevice } from "../../app/renew-device.js";
import type { IssuedCertificate } from "../../app/deps.js";
import { FleetgateError } from "../../domain/errors.js";
import { identityFromCertificate } from "../../domain/identity.js";
import type { PresentedCertificate } from "../../app/renew-device.js";
import { certificateFacts } from "../shared/certificate-facts.js";
import { certsOnlyBase64 } from "../shared/certs-only.js";
import { pemToDer, strictBase64 } from "../shared/pem.js";
import { limitToken, observeEnrollment, peerSocket, requireMediaType, type EnrollContext } from "./enroll-context.js";

/** RFC 7030 §3.2.2: the EST operation paths under /.well-known/est. */
const EST = "/.well-known/est";
const CERTS_ONLY = "application/pkcs7-mime; smime-type=certs-only";

/** RFC 7617 Basic credentials: username = device id, password = bootstrap token. */
export function basicCredentials(header: string | undefined): { username: string; password: string } | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? null : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** RFC 7030 §4.2.1 + RFC 8951: the body is base64 DER PKCS#10, line breaks allowed. */
function csrFromBody(request: FastifyRequest): Uint8Array<ArrayBuffer> {
  requireMediaType(request, "application/pkcs10");
  const der = typeof request.body === "string" ? strictBase64(request.body) : null;
  if (der === null) throw new FleetgateError("malformed_csr", "body is not base64");
  return der;
}

/** RFC 7030 §4.2.3: a certs-only CMS message holding just the issued certificate, base64. */
function sendCertsOnly(reply: FastifyReply, issued: IssuedCertificate): FastifyReply {
  const body = certsOnlyBase64([issued.certificateDer]);
  return reply.code(200).header("content-transfer-encoding", "base64").type(CERTS_ONLY).send(body);
}

/**
 * RFC 7030 §3.3.2: the current certificate, verified by TLS against the issuing CA. Its validity and
 * registry status are judged by the use case on every request: a resumed TLS session does not repeat
 * the handshake's date check.
 */
function presentedCertificate(request: FastifyRequest): PresentedCertificate {
  const socket = peerSocket(request);
  const peer = socket.getPeerX509Certificate?.();
  if (!peer) throw new FleetgateError("client_certificate_required", "no client certificate");
  if (!socket.authorized) {
    throw new FleetgateError("client_certificate_required", `not verified: ${String(socket.authorizationError)}`);
  }
  const identity = identityFromCertificate(certificateFacts(new Uint8Array(peer.raw)));
  if (!identity.ok) throw new FleetgateError("certificate_not_active", identity.reason);
  return { identity: identity.identity, notBefore: Date.parse(peer.validFrom), notAfter: Date.parse(peer.validTo) };
}

/**
 * Refuses a wrong content type before any body parser runs: otherwise a JSON body sent here would
 * be judged by the JSON parser and refused as malformed_request (400) instead of 415.
 */
const pkcs10Only = {
  onRequest: async (request: FastifyRequest) => requireMediaType(request, "application/pkcs10"),
};

/** RFC 7030 EST under /.well-known/est: cacerts, simpleenroll, simplereenroll. */
export const estRoutes: FastifyPluginAsync<EnrollContext> = async (app, context) => {
  // RFC 7030 §4.1.3: the CA certificates as a certs-only message: every issuing CA trusted now (two during
  // a rollover), then the root. Built again only when that set changes.
  let caCerts = { pems: [] as readonly string[], body: "" };
  const currentCaCerts = (): string => {
    const pems = context.deps.signer.caCertificatesPem;
    if (pems.length !== caCerts.pems.length || pems.some((pem, i) => pem !== caCerts.pems[i]))
      caCerts = { pems, body: certsOnlyBase64(pems.map((pem) => pemToDer(pem, ["CERTIFICATE"])!)) };
    return caCerts.body;
  };
  app.get(`${EST}/cacerts`, async (_request, reply) =>
    reply.header("content-transfer-encoding", "base64").type("application/pkcs7-mime").send(currentCaCerts()),
  );

  app.post(`${EST}/simpleenroll`, pkcs10Only, async (request, reply) => {
    const credentials = basicCredentials(request.headers.authorization);
    if (!credentials) {
      void reply.header("www-authenticate", 'Basic realm="fleetgate-est"');
      throw new FleetgateError("token_missing", "no Basic credentials");
    }
    limitToken(context, credentials.password, reply);
    const csrDer = csrFromBody(request);
    const issued = await observeEnrollment(context, "est", () =>
      enrollDevice(context.deps, {
        token: credentials.password,
        csrDer,
        claimedDeviceId: credentials.username || undefined,
      }),
    );
    return sendCertsOnly(reply, issued);
  });

  app.post(`${EST}/simplereenroll`, pkcs10Only, async (request, reply) => {
    const presented = presentedCertificate(request);
    const csrDer = csrFromBody(request);
    const issued = await observeEnrollment(context, "est-reenroll", () => renewDevice(context.deps, presented, csrDer));
    return sendCertsOnly(reply, issued);
  });
};
