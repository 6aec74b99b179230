import type { PeerCertificate as TlsPeerCertificate, TLSSocket } from "node:tls";
import type { PeerCertificate } from "../../app/authorize-client.js";
import { normalizeSerial } from "../../domain/identity.js";
import { ROLE_ATTRIBUTE } from "../shared/subject.js";

/** Node reports a repeated subject attribute as an array, a single one as a string. */
function values(field: string | string[] | undefined): string[] {
  if (field === undefined) return [];
  return Array.isArray(field) ? [...field] : [field];
}

/**
 * The verified peer certificate's identity facts, straight from OpenSSL's own parse of it
 * (tls getPeerCertificate: subject attributes, serial, validity). This runs on every CONNECT:
 * re-parsing the DER in JavaScript (asn1js) and building an X509Certificate object per socket
 * cost ~0.4–1 ms of broker CPU per connection, most of a handshake's budget. The facts are the
 * same ones: every CN, every OU, the serial; the chain was already verified by TLS.
 */
export function peerCertificate(
  socket: Pick<TLSSocket, "authorized" | "getPeerCertificate"> | undefined,
): PeerCertificate | null {
  if (socket === undefined || !socket.authorized || typeof socket.getPeerCertificate !== "function") return null;
  const peer = socket.getPeerCertificate(false) as TlsPeerCertificate | Record<string, never> | null;
  if (!peer || !("serialNumber" in peer) || !peer.subject) return null;
  const subject = peer.subject as unknown as Record<string, string | string[] | undefined>;
  const facts = {
    serial: normalizeSerial(peer.serialNumber),
    commonNames: values(subject["CN"]),
    roles: values(subject[ROLE_ATTRIBUTE]),
  };
  return { facts, notBefore: Date.parse(peer.valid_from), notAfter: Date.parse(peer.valid_to) };
}
