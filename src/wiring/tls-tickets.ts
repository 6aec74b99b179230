import type { Config } from "../config.js";
import { pkiPaths } from "../adapters/shared/key-files.js";
import { loadTicketSecret, TicketKeyRotation } from "../adapters/shared/ticket-keys.js";

/**
 * The session-ticket keys of this node's MQTT and enrollment listeners, rotated every
 * `tlsSessions.ticketKeyRotation`. They derive from pki/tls-ticket.secret (made on the first start), so
 * every node with the same data dir (or a copy of that file, as of the CA key) accepts the others' tickets.
 */
export function startTicketRotation(config: Pick<Config, "dataDir" | "tlsSessions">): TicketKeyRotation {
  const secret = loadTicketSecret(pkiPaths(config.dataDir).ticketSecret);
  const rotation = new TicketKeyRotation(secret, config.tlsSessions.ticketKeyRotation);
  rotation.start();
  return rotation;
}
