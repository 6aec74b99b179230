import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import type { EnrollmentDeps } from "../../app/deps.js";
import { FleetgateError } from "../../domain/errors.js";
import { KeyedTokenBucket, type RateSpec } from "../../domain/token-bucket.js";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import { readPrivateKeyPem, type PkiPaths } from "../ca/key-store.js";
import { registerEnrollRoutes } from "./enroll.routes.js";
import { installErrorHandling } from "./errors.js";
import { registerEstRoutes } from "./est.routes.js";

export interface EnrollServerOptions {
  readonly deps: EnrollmentDeps;
  readonly pki: PkiPaths;
  readonly bodyLimit: number;
  readonly rateLimit: { readonly perAddress: RateSpec; readonly perToken: RateSpec };
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** What the route modules share. */
export interface EnrollContext extends EnrollServerOptions {
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
 * The enrollment listener: HTTPS, TLS >= 1.2. It asks for a client certificate but does not
 * require one: first boots have none, re-enrollment (RFC 7030 §3.3.2) must present one.
 */
export async function createEnrollServer(options: EnrollServerOptions): Promise<FastifyInstance> {
  const app = fastify({
    logger: false,
    bodyLimit: options.bodyLimit,
    https: {
      key: readPrivateKeyPem(options.pki.serverKey),
      cert: readFileSync(options.pki.serverCert),
      // The chain must reach a self-signed root for OpenSSL; renewDevice then requires a registry-known serial.
      ca: [options.deps.signer.issuingCaPem, options.deps.signer.rootCaPem],
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
    },
  });
  installErrorHandling(app, "enroll", options.logger, options.metrics);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, app.getDefaultJsonParser("error", "error"));
  app.addContentTypeParser("application/pkcs10", { parseAs: "string" }, (_request, body, done) => done(null, body));

  const addressLimiter = new KeyedTokenBucket(options.rateLimit.perAddress);
  app.addHook("onRequest", async (request, reply) => {
    if (addressLimiter.take(request.ip, Date.now())) return;
    void reply.header("retry-after", String(addressLimiter.retryAfterSeconds(request.ip, Date.now())));
    throw new FleetgateError("rate_limited", `address ${request.ip}`);
  });
  const context: EnrollContext = { ...options, tokenLimiter: new KeyedTokenBucket(options.rateLimit.perToken) };
  registerEnrollRoutes(app, context);
  registerEstRoutes(app, context);
  return app;
}

/** Listens and logs the one line that says the service is up and on which port. */
export async function listen(
  app: FastifyInstance,
  service: string,
  host: string,
  port: number,
  logger: Logger,
): Promise<number> {
  await app.listen({ host, port }).catch((error: NodeJS.ErrnoException) => {
    const why = error.code === "EADDRINUSE" ? "the port is in use" : (error.code ?? error.message);
    throw new Error(
      `${service} listener cannot listen on ${host}:${port}: ${why} (set ${service}.port in fleetgate.json, FLEETGATE_${service.toUpperCase()}_PORT or --${service}-port)`,
      { cause: error },
    );
  });
  const bound = (app.server.address() as AddressInfo).port;
  logger.info({ service, host, port: bound }, `${service} listening`);
  return bound;
}
