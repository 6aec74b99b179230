import type { SecureContextOptions, Server as TlsServer } from "node:tls";
import type { FastifyInstance } from "fastify";
import { ticketContextOptions, type SessionTickets } from "../shared/ticket-keys.js";

/** The server key and certificate chain every HTTPS listener serves, and the CAs client certificates chain to. */
export interface ListenerTls {
  readonly key: string;
  readonly cert: string | Buffer;
  readonly ca: string[];
}

/**
 * The secure-context options of every HTTPS listener, at creation and on every reload alike; with
 * `tickets`, its sessions resume with the shared, rotated ticket keys.
 */
export function listenerContext(tls: ListenerTls, tickets?: SessionTickets): SecureContextOptions {
  const context: SecureContextOptions = { key: tls.key, cert: tls.cert, ca: tls.ca, minVersion: "TLSv1.2" };
  return tickets === undefined ? context : { ...context, ...ticketContextOptions(tickets) };
}

/** Applies every rotation of `tickets` to the listener's server; returns the unsubscribe. */
export function rotateTicketKeys(app: FastifyInstance, tickets: SessionTickets): () => void {
  return tickets.onRotate((keys) => (app.server as unknown as TlsServer).setTicketKeys(keys));
}

/**
 * New key, certificate and client CAs for the connections a listener accepts from now on
 * (tls.Server#setSecureContext replaces the whole context, so it gets the creation options again);
 * connections already open keep the context they were made with.
 */
export function replaceListenerTls(app: FastifyInstance, tls: ListenerTls, tickets?: SessionTickets): void {
  (app.server as unknown as TlsServer).setSecureContext(listenerContext(tls, tickets));
}
