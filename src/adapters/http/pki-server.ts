import fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { FleetgateError } from "../../domain/errors.js";
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

/** What the listener serves of the issuing CAs trusted now (asked per request: a reload changes them). */
export interface IssuingCaSource {
  /** The active CA's id. */
  active(): string;
  /** PEM of a trusted CA's certificate, undefined for any other id. */
  certificatePem(id: string): string | undefined;
  /** A trusted CA's current CRL, DER; undefined for any other id. */
  crl(id: string): Uint8Array | undefined;
}

export interface PkiServerOptions {
  readonly issuingCas: IssuingCaSource;
  /** Answers a DER OCSPRequest (an empty one with malformedRequest); never throws. */
  readonly ocsp: { respond(requestDer: Uint8Array): Promise<OcspAnswer> };
  /** The root CA certificate it serves, PEM. */
  readonly rootPem: string;
  readonly limits: ListenerLimits;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** `ca-2.crl` → `ca-2`: the ids under /crl/ and /ca/ (the active CA also answers as `issuing-ca`). */
const CA_FILE = /^(ca-[1-9][0-9]{0,8})\.(crl|crt|der)$/;

/**
 * The read-only PKI listener, plain HTTP: everything it serves is signed, and relying parties
 * (RFC 5280 §4.2.1.13 CRL distribution points, RFC 6960 Appendix A) fetch it over http://.
 *
 *   GET  /ca/root-ca.crt, /ca/issuing-ca.crt (PEM), /ca/issuing-ca.der (DER)   the active issuing CA
 *   GET  /ca/<ca-id>.crt, /ca/<ca-id>.der                                       any trusted issuing CA
 *   GET  /crl/issuing-ca.crl                  the active CA's current CRL, DER
 *   GET  /crl/<ca-id>.crl                     each trusted CA's own (the URL its certificates name)
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
  registerCaRoutes(app, options);
  registerOcspRoutes(app, options);
  return app;
}

/** The CA id and file kind a /ca/ or /crl/ file name asks for, or null (a 404). */
function caFile(cas: IssuingCaSource, file: string): { id: string; kind: string } | null {
  const active = /^issuing-ca\.(crl|crt|der)$/.exec(file);
  if (active) return { id: cas.active(), kind: active[1]! };
  const match = CA_FILE.exec(file);
  return match ? { id: match[1]!, kind: match[2]! } : null;
}

function registerCaRoutes(app: FastifyInstance, { issuingCas, rootPem }: PkiServerOptions): void {
  const notFound = (file: string) => new FleetgateError("not_found", `no CA file ${file}`);
  app.get("/ca/root-ca.crt", async (_request, reply) => reply.type(MEDIA.pem).send(rootPem));
  app.get<{ Params: { file: string } }>("/ca/:file", async (request, reply) => {
    const wanted = caFile(issuingCas, request.params.file);
    const pem = wanted && wanted.kind !== "crl" ? issuingCas.certificatePem(wanted.id) : undefined;
    const der = pem === undefined ? null : pemToDer(pem, ["CERTIFICATE"]);
    if (!wanted || pem === undefined || der === null) throw notFound(request.params.file);
    return wanted.kind === "crt" ? reply.type(MEDIA.pem).send(pem) : reply.type(MEDIA.pkixCert).send(Buffer.from(der));
  });
  app.get<{ Params: { file: string } }>("/crl/:file", async (request, reply) => {
    const wanted = caFile(issuingCas, request.params.file);
    const der = wanted?.kind === "crl" ? issuingCas.crl(wanted.id) : undefined;
    if (der === undefined) throw notFound(request.params.file);
    return reply.type(MEDIA.pkixCrl).send(Buffer.from(der));
  });
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
