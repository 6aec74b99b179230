import type { FastifyHttpOptions, FastifyHttpsOptions, FastifyServerOptions } from "fastify";
import type { Server } from "node:http";
import type { Server as HttpsServer, ServerOptions as HttpsServerOptions } from "node:https";
import type { Server as NetServer, Socket } from "node:net";
import { clientErrorHandler } from "./client-errors.js";
import { frameworkErrorHandler, type ErrorPaths } from "./errors.js";

/**
 * What one HTTP(S) listener allows a connection (README "Listeners: timeouts and connection caps"),
 * all in milliseconds. Node's defaults are far looser (a 120 s TLS handshake, no fastify request
 * timeout, a 72 s keep-alive): a client that opens sockets and then stalls would hold them.
 */
export interface ListenerLimits {
  /** `server.maxConnections`: further TCP connections are closed at once (file descriptors stay bounded). */
  readonly maxConnections: number;
  /** Socket inactivity (fastify `connectionTimeout`, Node `server.setTimeout`). */
  readonly connectionTimeout: number;
  /** Idle time between requests on a kept-alive connection. */
  readonly keepAliveTimeout: number;
  /** From the connection (or the end of the previous request) until the request line and headers are in. */
  readonly headersTimeout: number;
  /** Until the whole request, body included, is in. */
  readonly requestTimeout: number;
  /** TLS listeners: from TCP accept until the handshake is done. */
  readonly handshakeTimeout?: number;
}

/** Node checks header/request deadlines on a timer (30 s by default): often enough to keep them honest. */
export function connectionsCheckingInterval(limits: ListenerLimits): number {
  return Math.max(50, Math.min(1000, Math.floor(Math.min(limits.headersTimeout, limits.requestTimeout) / 4)));
}

/** Node's HTTP server options for these limits (https.createServer takes them alongside the TLS ones). */
function nodeOptions(limits: ListenerLimits) {
  return {
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    connectionsCheckingInterval: connectionsCheckingInterval(limits),
  };
}

/** fastify's own copies of the timeouts, plus the two error seams routed through the catalogue. */
function fastifyOptions(limits: ListenerLimits, paths: ErrorPaths) {
  return {
    logger: false,
    connectionTimeout: limits.connectionTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    requestTimeout: limits.requestTimeout,
    frameworkErrors: frameworkErrorHandler(paths) as FastifyServerOptions["frameworkErrors"],
    clientErrorHandler: clientErrorHandler(paths),
  } as const;
}

/** A plain-HTTP listener's fastify options (pki, metrics). */
export function httpListenerOptions(limits: ListenerLimits, paths: ErrorPaths): FastifyHttpOptions<Server> {
  return { ...fastifyOptions(limits, paths), http: nodeOptions(limits) };
}

/** An HTTPS listener's fastify options (enroll, admin): the TLS handshake gets its own deadline. */
export function httpsListenerOptions(
  limits: ListenerLimits,
  paths: ErrorPaths,
  tls: HttpsServerOptions,
): FastifyHttpsOptions<HttpsServer> {
  const https = { ...tls, ...nodeOptions(limits), handshakeTimeout: limits.handshakeTimeout ?? 10_000 };
  return { ...fastifyOptions(limits, paths), https };
}

/** The connection cap, and counts of what the cap and the inactivity timeout closed. */
export function capConnections(server: NetServer, limits: ListenerLimits, paths: ErrorPaths): void {
  server.maxConnections = limits.maxConnections;
  const closed = (reason: string) => paths.metrics.httpConnectionsClosed.inc({ service: paths.service, reason });
  server.on("drop", () => closed("connection_limit"));
  // With a 'timeout' listener Node leaves the idle socket to it (fastify's connectionTimeout).
  server.on("timeout", (socket: Socket) => {
    closed("idle_timeout");
    socket.destroy();
  });
}
