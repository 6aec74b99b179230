import type { FastifyInstance, FastifyReply } from "fastify";
import { z } from "zod";
import { enrollDevice } from "../../app/enroll-device.js";
import type { IssuedCertificate } from "../../app/deps.js";
import { hashToken } from "../../domain/bootstrap-token.js";
import { FleetgateError, isFleetgateError } from "../../domain/errors.js";
import { pemToDer } from "../ca/pem.js";
import { requireMediaType, type EnrollContext } from "./enroll-server.js";

const EnrollBody = z.strictObject({
  token: z.string().min(1).max(256),
  csr: z.string().min(1),
});

const CSR_LABELS = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"];

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

export function registerEnrollRoutes(app: FastifyInstance, context: EnrollContext): void {
  app.post("/v1/enroll", async (request, reply: FastifyReply) => {
    requireMediaType(request, "application/json");
    const parsed = EnrollBody.safeParse(request.body);
    if (!parsed.success)
      throw new FleetgateError(
        "malformed_request",
        parsed.error.issues.map((i) => i.path.join(".") + ": " + i.message).join("; "),
      );
    limitToken(context, parsed.data.token, reply);
    const issued = await observeEnrollment(context, "json", async () => {
      // Unparseable PEM becomes empty DER, refused as malformed_csr only after the token is judged.
      const csrDer = pemToDer(parsed.data.csr, CSR_LABELS) ?? new Uint8Array();
      return enrollDevice(context.deps, { token: parsed.data.token, csrDer });
    });
    return reply.code(201).send({
      deviceId: issued.deviceId,
      certificate: issued.certificatePem,
      chain: issued.chainPem,
      notAfter: new Date(issued.notAfter).toISOString(),
    });
  });
}
