import type { FastifyPluginAsync } from "fastify";
import { addOperator } from "../../app/add-operator.js";
import { newKeyAndCsr } from "../shared/local-credential.js";
import { buildPkcs12 } from "../shared/pkcs12.js";
import { actorOf, parse, type AdminContext } from "./admin-context.js";
import { P12_SCHEMA, P12Body } from "./admin-schemas.js";

/**
 * `POST /v1/operators/p12` (the console's "add operator"): a browser cannot keep a key the way the
 * CLI does, so here the server makes the key, has the operator certificate issued for it (the same
 * use case as the CLI's CSR flow), and answers with both in a PKCS#12 sealed with the password the
 * operator typed. The key exists only in this request's memory: it is never stored or logged.
 */
export const operatorP12Routes: FastifyPluginAsync<AdminContext> = async (app, context) => {
  app.post("/v1/operators/p12", { schema: P12_SCHEMA }, async (request, reply) => {
    const { name, password } = parse(P12Body, request.body);
    const { keyPem, csrDer } = await newKeyAndCsr(name);
    const csr = await context.enrollment.decodeCsr(csrDer);
    const operator = await addOperator(context.enrollment, name, csr, actorOf(request));
    const p12 = await buildPkcs12({
      keyPem,
      certificatePem: operator.pem,
      chainPem: [context.enrollment.signer.issuingCaPem],
      friendlyName: `fleetgate operator ${name}`,
      password,
    });
    return reply
      .code(201)
      .type("application/x-pkcs12")
      .header("content-disposition", `attachment; filename="${name}.p12"`)
      .header("x-operator-serial", operator.serial)
      .send(Buffer.from(p12));
  });
};
