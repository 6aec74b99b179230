/** Node's handshake errors → the reason label of fleetgate_mqtt_handshake_failures_total. */
export function handshakeFailureReason(error: NodeJS.ErrnoException): string {
  const text = `${error.code ?? ""} ${error.message}`.toUpperCase();
  if (text.includes("TIMEOUT")) return "timeout";
  if (text.includes("PEER_DID_NOT_RETURN_A_CERTIFICATE")) return "no_certificate";
  if (text.includes("EXPIRED")) return "certificate_expired";
  if (text.includes("NOT_YET_VALID")) return "certificate_not_yet_valid";
  if (
    text.includes("UNKNOWN_CA") ||
    text.includes("UNABLE_TO_GET_ISSUER") ||
    text.includes("CERTIFICATE_VERIFY_FAILED") ||
    text.includes("VERIFY") ||
    text.includes("SELF_SIGNED")
  )
    return "certificate_untrusted";
  if (text.includes("VERSION") || text.includes("PROTOCOL")) return "protocol_version";
  if (text.includes("ECONNRESET") || text.includes("SOCKET HANG UP")) return "reset";
  return "other";
}
