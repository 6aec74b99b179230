import type { FastifyReply, FastifyRequest } from "fastify";
import type { TLSSocket } from "node:tls";
import type { EnrollmentDeps, IssuedCertificate } from "../../app/deps.js";
import { hashToken } from "../../domain/bootstrap-token.js";
import { FleetgateError, isFleetgateError } from "../../domain/errors.js";
import type { KeyedTokenBucket, RateSpec } from "../../domain/token-bucket.js";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";

/** What the enrollment listener's route plugins share; imports no other http module. */
export interface EnrollContext {
  readonly deps: EnrollmentDeps;
  readonly bodyLimit: number;
  readonly rateLimit: { readonly perAddress: RateSpec; readonly perToken: RateSpec };
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tokenLimiter: KeyedTokenBucket;
}

export function mediaType(request: FastifyRequest): string {
  return (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
}

export function requireMediaType(request: FastifyRequest, expected: string): void {
  if (mediaType(request) !== expected)
    throw new FleetgateError("unsupported_media_type", `got ${mediaType(request) || "none"}`);
}

export function peerSocket(request: FastifyRequest): TLSSocket {
  return request.raw.socket as TLSSocket;
}

/**
 * Spends one per-token allowance; keyed by hash so the limiter never holds a usable token. A
 * refusal carries the per-token Retry-After (the error handler would otherwise default to 1 s).
 */
export function limitToken(context: EnrollContext, token: string | undefined, reply: FastifyReply): void {
  if (!token) return;
  const key = hashToken(token).slice(0, 32);
  const now = Date.now();
  if (context.tokenLimiter.take(key, now)) return;
  void reply.header("retry-after", String(context.tokenLimiter.retryAfterSeconds(key, now)));
  throw new FleetgateError("rate_limited", "per-token limit");
}

/** Runs an enrollment use case with its outcome metric, duration and one log line. */
export async function observeEnrollment(
  context: EnrollContext,
  method: string,
  run: () => Promise<IssuedCertificate>,
): Promise<IssuedCertificate> {
  const stop = context.metrics.enrollmentSeconds.startTimer({ method });
  try {
    const issued = await run();
    context.metrics.enrollments.inc({ method, outcome: "ok" });
    context.logger.info(
      { service: "enroll", method, deviceId: issued.deviceId, serial: issued.serial },
      "certificate issued",
    );
    return issued;
  } catch (error) {
    const code = isFleetgateError(error) ? error.code : "internal_error";
    context.metrics.enrollments.inc({ method, outcome: code });
    throw error;
  } finally {
    stop();
  }
}
