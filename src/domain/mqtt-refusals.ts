/**
 * Why the broker refuses a connection or denies a packet. Connection refusals map onto the
 * MQTT 3.1.1 CONNACK return codes (§3.2.2.3); the reason itself goes to the log and the
 * metrics, never to the client, which only sees the return code.
 */
export const CONNACK = {
  accepted: 0,
  unacceptableProtocol: 1,
  identifierRejected: 2,
  serverUnavailable: 3,
  badCredentials: 4,
  notAuthorized: 5,
} as const;

export const MQTT_REFUSALS = {
  protocol_not_supported: {
    returnCode: CONNACK.unacceptableProtocol,
    message: "Only MQTT 3.1.1 (and 3.1) is spoken; MQTT 5 CONNECTs are refused.",
  },
  client_certificate_missing: {
    returnCode: CONNACK.notAuthorized,
    message: "No verified client certificate on the connection.",
  },
  certificate_identity_invalid: {
    returnCode: CONNACK.notAuthorized,
    message: "The certificate's CN or role is not a valid fleetgate identity.",
  },
  certificate_expired: {
    returnCode: CONNACK.notAuthorized,
    message: "The certificate is outside its validity period.",
  },
  certificate_not_active: {
    returnCode: CONNACK.notAuthorized,
    message: "The certificate is unknown, superseded or revoked, or its device is revoked.",
  },
  role_unknown: {
    returnCode: CONNACK.notAuthorized,
    message: "The certificate's role has no topic permissions configured.",
  },
  client_id_mismatch: {
    returnCode: CONNACK.identifierRejected,
    message: "The MQTT client id must equal the certificate CN.",
  },
  client_id_empty_persistent: {
    returnCode: CONNACK.identifierRejected,
    message: "An empty client id needs CleanSession=1 [MQTT-3.1.3-8].",
  },
  session_taken_over: {
    returnCode: CONNACK.identifierRejected,
    message:
      "A newer connection with this client id was admitted on another node at the same moment; the newer one stays [MQTT-3.1.4-2].",
  },
  keepalive_out_of_bounds: {
    returnCode: CONNACK.notAuthorized,
    message: "The keep-alive interval is outside the configured bounds.",
  },
} as const satisfies Record<string, { returnCode: number; message: string }>;

export type MqttRefusal = keyof typeof MQTT_REFUSALS;

/** Packet-level denials (no MQTT 3.1.1 reason code exists; logged, counted, and acted on). */
export const MQTT_DENIALS = {
  publish_not_permitted: "A PUBLISH (or will) to a topic outside the client's publish permissions.",
  subscribe_not_permitted: "A SUBSCRIBE filter not covered by the client's subscribe permissions (SUBACK 0x80).",
  subscription_limit_reached:
    "A SUBSCRIBE filter beyond mqtt.maxSubscriptionsPerClient filters held by the connection (SUBACK 0x80).",
  too_many_filters: "A SUBSCRIBE with more than mqtt.maxFiltersPerSubscribe filters; the connection is closed.",
  malformed_utf8:
    "A topic, filter, client id, will topic or user name that is not well-formed UTF-8 [MQTT-1.5.3-1]; the connection is closed.",
  publish_rate_exceeded: "The device exceeded its publish token bucket; the message is dropped.",
  retained_limit_reached:
    "A retained PUBLISH over the device's mqtt.retained quota (or its role may not retain): delivered, not retained.",
  outgoing_queue_full:
    "A persistent session's queue of unacknowledged QoS 1/2 messages is at mqtt.maxOutgoingQueue; the message is not queued for it.",
  qos2_store_full:
    "A QoS 2 PUBLISH beyond the client id's stored QoS 2 messages awaiting PUBREL (mqtt.maxStoredQos2); the connection is closed.",
  packet_too_large: "A packet larger than mqtt.maxPacketSize; the connection is closed.",
  connection_rate_exceeded: "Too many new connections from one source address; closed before the TLS handshake.",
  connection_limit_reached: "mqtt.maxConnections connections are open; closed before the TLS handshake.",
  pending_limit_reached:
    "Too many connections not yet admitted, in total (mqtt.maxPendingConnections) or from one address (mqtt.maxPendingPerAddress); closed before the TLS handshake.",
} as const;

export type MqttDenial = keyof typeof MQTT_DENIALS;
