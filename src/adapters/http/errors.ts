import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ERROR_CATALOGUE, FleetgateError, isFleetgateError, type ErrorCode } from "../../domain/errors.js";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";

/** Fastify's own refusals, mapped onto the catalogue so every answer has one of our codes. */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "body_too_large",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "unsupported_media_type",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "malformed_request",
  FST_ERR_CTP_EMPTY_JSON_BODY: "malformed_request",
  FST_ERR_CTP_INVALID_JSON_BODY: "malformed_request",
  FST_ERR_VALIDATION: "malformed_request",
  // The router's refusals (`frameworkErrors`): a path that is not valid percent-encoding, a path
  // parameter longer than `maxParamLength` (fastify's default, 100 characters).
  FST_ERR_BAD_URL: "malformed_request",
  FST_ERR_MAX_PARAM_LENGTH: "uri_too_long",
};

export function toFleetgateError(error: unknown): FleetgateError {
  if (isFleetgateError(error)) return error;
  const fastifyError = error as Partial<FastifyError>;
  const mapped = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (mapped) return new FleetgateError(mapped, fastifyError.message, { cause: error });
  // Body-parser errors without a FST code (e.g. a JSON SyntaxError) carry statusCode 400.
  if (fastifyError.statusCode === 400)
    return new FleetgateError("malformed_request", fastifyError.message, { cause: error });
  return new FleetgateError("internal_error", (error as Error)?.message ?? String(error), { cause: error });
}

export function sendError(reply: FastifyReply, error: FleetgateError, withDetail = false): FastifyReply {
  const body =
    withDetail && error.detail !== undefined && error.code !== "internal_error"
      ? { ...error.toPublicJSON(), detail: error.detail }
      : error.toPublicJSON();
  return reply.code(ERROR_CATALOGUE[error.code].status).type("application/json").send(body);
}

/**
 * May this request see the refusal's `detail` (e.g. "unknown revocation reason bogus")? Never on
 * the public listeners, where a detail would help an attacker; on the admin listener only once
 * the operator certificate was accepted. An internal_error's detail is never sent.
 */
export type DetailPolicy = (request: FastifyRequest) => boolean;

/** A refusal made before any hook or route ran (the router, the HTTP parser): nobody authenticated it. */
export interface EarlyRefusal {
  readonly address: string;
  readonly code: ErrorCode;
  readonly detail: string;
  /** Null when the HTTP parser refused the request before its URL was known. */
  readonly url: string | null;
}

/** One listener's error path: who it is, where refusals are logged and counted, who hears early ones. */
export interface ErrorPaths {
  readonly service: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly showDetail?: DetailPolicy;
  /** The admin listener audits these like every other refusal it makes; answered once this settles. */
  readonly onEarlyRefusal?: (refusal: EarlyRefusal) => Promise<void> | void;
}

/** Bounded: a log line carries at most this much of a hostile URL. */
const MAX_LOGGED_URL = 256;

export function boundedUrl(url: string): string {
  return url.length > MAX_LOGGED_URL ? `${url.slice(0, MAX_LOGGED_URL)}…(${url.length} chars)` : url;
}

/** Logs and counts one refusal (the error handler, the router, the HTTP parser all come here). */
export function noteRefusal(
  paths: ErrorPaths,
  error: FleetgateError,
  at: { method: string; url: string | null; ip: string | undefined },
  raw?: unknown,
): void {
  const { service, logger, metrics } = paths;
  const url = at.url === null ? null : boundedUrl(at.url);
  const fields = { service, method: at.method, url, ip: at.ip, code: error.code, detail: error.detail };
  if (error.code === "internal_error") logger.error({ ...fields, err: raw }, "request failed");
  else logger.warn(fields, "request refused");
  metrics.httpRefusals.inc({ service, code: error.code });
}

/**
 * fastify's `frameworkErrors` seam: the router's refusals (bad percent-encoding, an over-long path
 * parameter) as catalogue JSON, counted and logged like any other, and reported as early refusals.
 */
export function frameworkErrorHandler(paths: ErrorPaths) {
  return (raw: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    const error = toFleetgateError(raw);
    noteRefusal(paths, error, { method: request.method, url: request.url, ip: request.ip }, raw);
    const early = {
      address: request.ip,
      code: error.code,
      detail: error.detail ?? error.code,
      url: boundedUrl(request.url),
    };
    void Promise.resolve(paths.onEarlyRefusal?.(early)).finally(() => sendError(reply, error));
  };
}

/** One error path for a listener: a safe JSON body out, the internal cause to the log. */
export function installErrorHandling(app: FastifyInstance, paths: ErrorPaths): void {
  const { service, metrics, showDetail = () => false } = paths;
  app.setErrorHandler((raw: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const error = toFleetgateError(raw);
    noteRefusal(paths, error, { method: request.method, url: request.url, ip: request.ip }, raw);
    if (error.code === "rate_limited") void reply.header("retry-after", String(reply.getHeader("retry-after") ?? 1));
    if (error.code === "unavailable") void reply.header("retry-after", "2");
    return sendError(reply, error, showDetail(request));
  });
  app.setNotFoundHandler((request, reply) => {
    metrics.httpRefusals.inc({ service, code: "not_found" });
    return sendError(reply, new FleetgateError("not_found", `${request.method} ${request.url}`));
  });
}
