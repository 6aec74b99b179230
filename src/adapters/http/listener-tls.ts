import type { SecureContextOptions, Server as TlsServer } from "node:tls";
import type { FastifyInstance } from "fastify";

/** The server key and certificate chain every HTTPS listener serves, and the CAs client certificates chain to. */
export interface ListenerTls {
  readonly key: string;
  readonly cert: string | Buffer;
  readonly ca: string[];
}

/** The secure-context options of every HTTPS listener, at creation and on every reload alike. */
export function listenerContext(tls: ListenerTls): SecureContextOptions {
  return { key: tls.key, cert: tls.cert, ca: tls.ca, minVersion: "TLSv1.2" };
}

/**
 * New key, certificate and client CAs for the connections a listener accepts from now on
 * (tls.Server#setSecureContext replaces the whole context, so it gets the creation options again);
 * connections already open keep the context they were made with.
 */
export function replaceListenerTls(app: FastifyInstance, tls: ListenerTls): void {
  (app.server as unknown as TlsServer).setSecureContext(listenerContext(tls));
}
