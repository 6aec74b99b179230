import fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import { pemToDer } from "../shared/pem.js";
import { installErrorHandling, noteRefusal, sendError, toFleetgateError, type ErrorPaths } from "./errors.js";
import { capConnections, httpListenerOptions, type ListenerLimits } from "./listener-limits.js";

/** RFC 6960 Appendix A.1 media types; RFC 5280 §4.2.1.13 / RFC 2585 §4 for certificates and CRLs. */
const MEDIA = {
  ocspRequest: "application/ocsp-request",
  ocspResponse: "application/ocsp-response",
  pkixCrl: "application/pkix-crl",
  pkixCert: "application/pkix-cert",
  pem: "application/x-pem-file",
} as const;
/** A request for a few hundred certificates fits many times over; anything bigger is not OCSP. */
export const OCSP_BODY_LIMIT = 64 * 1024;
const SERVICE = "pki";

export interface PkiServerOptions {
  /** Anything with the current CRL DER (a CrlPublisher). */
  readonly crl: { readonly der: Uint8Array };
  /** Answers a DER OCSPRequest (an empty one with malformedRequest); never throws. */
  readonly ocsp: { respond(requestDer: Uint8Array): Promise<OcspAnswer> };
  /** The CA certificates it serves, PEM. */
  readonly ca: { readonly rootPem: string; readonly issuingPem: string };
  readonly limits: ListenerLimits;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * The read-only PKI listener, plain HTTP: everything it serves is signed, and relying parties
 * (RFC 5280 §4.2.1.13 CRL distribution points, RFC 6960 Appendix A) fetch it over http://.
 *
 *   GET  /ca/root-ca.crt, /ca/issuing-ca.crt (PEM), /ca/issuing-ca.der (DER)
 *   GET  /crl/issuing-ca.crl                  the current CRL, DER
 *   POST /ocsp                                 body: DER OCSPRequest
 *   GET  /ocsp/{url-encoding of base64 of DER OCSPRequest}
 */
export function createPkiServer(options: PkiServerOptions): FastifyInstance {
  const paths: ErrorPaths = { service: SERVICE, logger: options.logger, metrics: options.metrics };
  const app = fastify({
    ...httpListenerOptions(options.limits, paths),
    bodyLimit: OCSP_BODY_LIMIT,
    // A GET whose path is not even valid URL-encoding never reaches a route; it is still an OCSP request.
    frameworkErrors: (raw, request, reply) => {
      const error = toFleetgateError(raw);
      noteRefusal(paths, error, { method: request.method, url: request.url, ip: request.ip }, raw);
      if (request.url.startsWith("/ocsp/")) {
        return void options.ocsp.respond(new Uint8Array()).then((answer) => sendOcsp(reply, answer.der));
      }
      return void sendError(reply, error);
    },
  });
  capConnections(app.server, options.limits, paths);
  installErrorHandling(app, paths);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    MEDIA.ocspRequest,
    { parseAs: "buffer", bodyLimit: OCSP_BODY_LIMIT },
    (_request, body, done) => done(null, body),
  );
  registerCaRoutes(app, options.ca);
  app.get("/crl/issuing-ca.crl", async (_request, reply) =>
    reply.type(MEDIA.pkixCrl).send(Buffer.from(options.crl.der)),
  );
  registerOcspRoutes(app, options);
  return app;
}

function registerCaRoutes(app: FastifyInstance, { rootPem, issuingPem }: PkiServerOptions["ca"]): void {
  const issuingDer = pemToDer(issuingPem, ["CERTIFICATE"]);
  if (issuingDer === null) throw new Error("the issuing CA PEM holds no certificate");
  app.get("/ca/root-ca.crt", async (_request, reply) => reply.type(MEDIA.pem).send(rootPem));
  app.get("/ca/issuing-ca.crt", async (_request, reply) => reply.type(MEDIA.pem).send(issuingPem));
  app.get("/ca/issuing-ca.der", async (_request, reply) => reply.type(MEDIA.pkixCert).send(Buffer.from(issuingDer)));
}

/** RFC 6960 Appendix A.1: "GET {url}/{url-encoding of base-64 encoding of the DER encoding of the OCSPRequest}". */
export function ocspGetRequestDer(rawUrl: string): Uint8Array {
  const path = rawUrl.split("?")[0]!;
  const encoded = path.slice(path.indexOf("/ocsp/") + "/ocsp/".length);
  let text: string;
  try {
    text = decodeURIComponent(encoded);
  } catch {
    return new Uint8Array(); // not URL-encoding: answered as malformedRequest
  }
  // Tolerate unencoded '/' (already part of the path) and the URL-safe alphabet some clients use.
  const base64 = text.replace(/\s+/g, "").replace(/-/g, "+").replace(/_/g, "/");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 === 1) return new Uint8Array();
  return new Uint8Array(Buffer.from(base64, "base64"));
}

function registerOcspRoutes(app: FastifyInstance, options: PkiServerOptions): void {
  const answer = async (request: FastifyRequest, reply: FastifyReply, der: Uint8Array): Promise<FastifyReply> => {
    const result = await options.ocsp.respond(der);
    logAnswer(options.logger, request, result);
    return sendOcsp(reply, result.der);
  };
  app.post("/ocsp", async (request, reply) =>
    answer(request, reply, Buffer.isBuffer(request.body) ? request.body : new Uint8Array()),
  );
  app.get("/ocsp/*", async (request, reply) => answer(request, reply, ocspGetRequestDer(request.url)));
}

/**
 * §2.3 / Appendix A.2: error statuses are OCSP responses too, carried with HTTP 200. No caching:
 * a revocation must be visible on the next query (RFC 5019 §6.2 caching is deliberately not offered).
 */
function sendOcsp(reply: FastifyReply, der: Uint8Array): FastifyReply {
  return reply.code(200).type(MEDIA.ocspResponse).header("cache-control", "no-cache").send(Buffer.from(der));
}

/** What the OCSP responder answered, for the log line. */
export interface OcspAnswer {
  readonly der: Uint8Array;
  readonly status: string;
  readonly certStatuses: readonly string[];
}

function logAnswer(logger: Logger, request: FastifyRequest, result: OcspAnswer): void {
  const fields = {
    service: SERVICE,
    method: request.method,
    ip: request.ip,
    status: result.status,
    certStatuses: result.certStatuses,
  };
  if (result.status === "successful") logger.debug(fields, "ocsp answered");
  else logger.warn(fields, "ocsp request refused");
}
