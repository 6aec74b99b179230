import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { z } from "zod";
import { enrollDevice } from "../../app/enroll-device.js";
import { FleetgateError } from "../../domain/errors.js";
import { pemToDer } from "../shared/pem.js";
import { limitToken, observeEnrollment, requireMediaType, type EnrollContext } from "./enroll-context.js";

const EnrollBody = z.strictObject({
  token: z.string().min(1).max(256),
  csr: z.string().min(1),
});

const CSR_LABELS = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"];

/** `POST /v1/enroll`: a token and a PEM CSR in JSON, the certificate and chain back. */
export const enrollRoutes: FastifyPluginAsync<EnrollContext> = async (app, context) => {
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
};
