import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { addOperator } from "../../app/add-operator.js";
import { revokeOperator } from "../../app/revoke-operator.js";
import { FleetgateError } from "../../domain/errors.js";
import { strictBase64 } from "../shared/pem.js";
import { actorOf, parse, render, type AdminContext } from "./admin-context.js";
import { IdParam } from "./admin-token.routes.js";

export const OperatorBody = z.strictObject({ name: z.string().min(1).max(64), csr: z.string().min(1).max(16_384) });

/** Operators: list, add (the key is made by the client; the server signs its CSR), revoke. */
export const operatorRoutes: FastifyPluginAsync<AdminContext> = async (app, context) => {
  const { registry, clock } = context.enrollment;
  app.get("/v1/operators", async () =>
    render((await registry.listOperators()).map(({ pem: _pem, ...operator }) => operator)),
  );
  app.post("/v1/operators", async (request, reply) => {
    const body = parse(OperatorBody, request.body);
    const der = strictBase64(body.csr);
    if (der === null) throw new FleetgateError("malformed_csr", "csr is not base64 DER");
    const csr = await context.enrollment.decodeCsr(der);
    const operator = await addOperator(context.enrollment, body.name, csr, actorOf(request));
    const { name, serial, pem: certificate, notAfter } = operator;
    return reply.code(201).send(render({ name, serial, certificate, notAfter }));
  });
  app.post("/v1/operators/:id/revoke", async (request) => {
    const { id } = parse(IdParam, request.params);
    const count = await revokeOperator({ registry, clock }, id, actorOf(request));
    return { name: id, revoked: count };
  });
};
