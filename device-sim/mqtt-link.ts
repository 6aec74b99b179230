import mqtt, { type MqttClient } from "mqtt";
import type { TLSSocket } from "node:tls";
import type { DeviceCredential } from "./credential-store.js";
import type { TlsSessionSlot } from "./tls-session.js";
import type { FleetEndpoints, MqttBroker } from "./types.js";

export type ConnectOutcome =
  | { readonly ok: true; readonly client: MqttClient; readonly resumed: boolean }
  | { readonly ok: false; readonly kind: "refused" | "transient"; readonly reason: string };

/**
 * TLS alerts that name our certificate (expired, revoked, unknown CA, bad certificate): the
 * server has judged the credential, so this is a refusal, not a network hiccup.
 */
const CERTIFICATE_ALERT = /ALERT_(CERTIFICATE|BAD_CERTIFICATE|UNKNOWN_CA|DECRYPT_ERROR|ACCESS_DENIED)/;

export function classifyConnectError(error: Error & { code?: number | string }): {
  kind: "refused" | "transient";
  reason: string;
} {
  if (typeof error.code === "number") return { kind: "refused", reason: `CONNACK ${error.code}` };
  const code = error.code ?? error.message;
  return { kind: CERTIFICATE_ALERT.test(code) ? "refused" : "transient", reason: code };
}

/**
 * One MQTT 3.1.1 connection attempt over mTLS, no automatic reconnects: the caller (the device's
 * firmware loop) decides when and whether to try again. With a `sessions` slot, the TLS session kept
 * from the previous connection is offered (resumption) and every session the server sends is kept.
 */
export function connectOnce(
  endpoints: FleetEndpoints,
  credential: DeviceCredential,
  signal?: AbortSignal,
  timeoutMs = 10_000,
  broker: MqttBroker = endpoints,
  sessions?: TlsSessionSlot,
): Promise<ConnectOutcome> {
  const offered = sessions?.offer(credential);
  const client = mqtt.connect({
    host: broker.mqttHost,
    port: broker.mqttPort,
    protocol: "mqtts",
    protocolVersion: 4,
    clientId: credential.deviceId,
    clean: true,
    keepalive: 60,
    ca: endpoints.caPem,
    cert: credential.certPem,
    key: credential.keyPem,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
    ...(offered === undefined ? {} : { session: offered }),
  });
  const socket = client.stream as TLSSocket;
  socket.on("session", (session: Buffer) => sessions?.keep(credential, session));
  // Errors after the outcome (a reset on a closed socket) are followed by 'close', which the
  // device handles; without a listener an 'error' event would throw.
  client.on("error", () => undefined);
  return new Promise((resolve) => {
    const settle = (outcome: ConnectOutcome) => {
      client.removeListener("connect", onConnect).removeListener("error", onError).removeListener("close", onClose);
      signal?.removeEventListener("abort", onAbort);
      if (!outcome.ok) client.end(true);
      resolve(outcome);
    };
    const onConnect = () => settle({ ok: true, client, resumed: socket.isSessionReused() });
    const onError = (error: Error & { code?: number | string }) =>
      settle({ ok: false, ...classifyConnectError(error) });
    const onClose = () => settle({ ok: false, kind: "transient", reason: "closed before CONNACK" });
    const onAbort = () => settle({ ok: false, kind: "transient", reason: "aborted" });
    client.once("connect", onConnect).once("error", onError).once("close", onClose);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
}
