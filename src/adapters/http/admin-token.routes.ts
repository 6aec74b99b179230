import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { issueToken, TokenRequestError } from "../../app/issue-token.js";
import { revokeToken } from "../../app/revoke-token.js";
import { tokenState } from "../../domain/bootstrap-token.js";
import { parseDuration } from "../../domain/duration.js";
import { FleetgateError } from "../../domain/errors.js";
import { actorOf, parse, render, type AdminContext } from "./admin-context.js";

// A bare number would be milliseconds (config-file style): `--ttl 3` must not mint a 3 ms token.
export const durationString = z
  .string()
  .refine(
    (s) => /[a-z]$/.test(s.trim()) && parseDuration(s) !== null,
    "expected a duration with a unit, like 30m, 24h or 7d",
  );
export const TokenBody = z.strictObject({
  deviceId: z.string().optional(),
  prefix: z.string().optional(),
  uses: z.number().int().positive().optional(),
  ttl: durationString.default("24h"),
  profile: z.string().default("device"),
});
export const IdParam = z.strictObject({ id: z.string().min(1).max(64) });

/** Bootstrap tokens: created (the secret shown once), listed (never the secret), revoked. */
export const tokenRoutes: FastifyPluginAsync<AdminContext> = async (app, context) => {
  const { registry, clock } = context.enrollment;
  app.post("/v1/tokens", async (request, reply) => {
    const body = parse(TokenBody, request.body);
    const profiles = new Set(context.enrollment.profiles.keys());
    const issueRequest = { ...body, ttlMs: parseDuration(body.ttl)!, actor: actorOf(request) };
    const issued = await issueToken({ registry, clock, profiles }, issueRequest).catch((error: unknown) => {
      throw error instanceof TokenRequestError ? new FleetgateError("malformed_request", error.message) : error;
    });
    const { id, deviceId, prefix, profile, usesLeft, expiresAt } = issued.record;
    return reply.code(201).send(render({ token: issued.token, id, deviceId, prefix, profile, usesLeft, expiresAt }));
  });
  app.get("/v1/tokens", async () => {
    const now = clock.now();
    return render(
      (await registry.listTokens()).map(({ hash: _hash, ...token }) => ({
        ...token,
        state: tokenState({ hash: _hash, ...token }, now),
      })),
    );
  });
  app.post("/v1/tokens/:id/revoke", async (request) => {
    const { id } = parse(IdParam, request.params);
    await revokeToken({ registry, clock }, id, actorOf(request));
    return { id, revoked: true };
  });
};
