import type { EnrollmentDeps } from "../app/deps.js";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { EventBus } from "../ports.js";
import type { ListenerTls } from "../adapters/http/listener-tls.js";
import { MqttGateway, type BrokerOptions } from "../adapters/mqtt/broker.js";
import { createMemoryPersistence } from "../adapters/mqtt/memory-persistence.js";
import type { Cluster } from "./cluster.js";
import type { SessionTickets } from "../adapters/shared/ticket-keys.js";

/** The MQTT gateway from the configuration: memory store on one node, Redis store and leases in a cluster. */
export function startGateway(...args: Parameters<typeof gatewayOptions>): Promise<MqttGateway> {
  return MqttGateway.start(gatewayOptions(...args));
}

/** The gateway's options from the configuration (exported: tests start extra gateways over their own store). */
export function gatewayOptions(
  config: Config,
  node: { readonly nodeId: string; readonly maxConnections: number; readonly sessionTickets?: SessionTickets },
  tls: ListenerTls,
  deps: EnrollmentDeps,
  bus: EventBus,
  cluster: Cluster | null,
  observe: { readonly logger: Logger; readonly metrics: Metrics },
): BrokerOptions {
  const { mqtt } = config;
  return {
    nodeId: node.nodeId,
    host: mqtt.host,
    port: mqtt.port,
    tls,
    handshakeTimeoutMs: mqtt.handshakeTimeout,
    ...(node.sessionTickets === undefined ? {} : { sessionTickets: node.sessionTickets }),
    limits: gatewayLimits(config, node.maxConnections),
    publishRate: mqtt.publishRate,
    onDeniedPublish: mqtt.onDeniedPublish,
    admission: {
      certificateState: (serial) => deps.registry.certificateState(serial),
      acl: config.acl,
      keepalive: mqtt.keepalive,
      clock: deps.clock,
    },
    acl: config.acl,
    persistence: cluster?.store.persistence ?? createMemoryPersistence(),
    ...(cluster === null ? {} : { mq: cluster.store.mq, takeover: cluster.takeover }),
    onFleetEvent: (event) => bus.publish(event),
    ...observe,
  };
}

/** `maxConnections`: mqtt.maxConnections, or less when the file-descriptor limit allows less (fd-limit.ts). */
function gatewayLimits(config: Config, maxConnections: number) {
  const { mqtt } = config;
  const retained = mqtt.retained;
  return {
    maxConnections,
    maxPending: mqtt.maxPendingConnections,
    maxPendingPerAddress: mqtt.maxPendingPerAddress,
    connectRatePerAddress: mqtt.connectRatePerAddress,
    maxPacketSize: mqtt.maxPacketSize,
    maxFiltersPerSubscribe: mqtt.maxFiltersPerSubscribe,
    maxSubscriptionsPerClient: mqtt.maxSubscriptionsPerClient,
    maxOutgoingQueue: mqtt.maxOutgoingQueue,
    maxStoredQos2: mqtt.maxStoredQos2,
    retained: {
      maxTotalBytes: retained.maxTotalBytes,
      limitsFor: (role: string) => ({
        maxPerDevice: retained.roles[role]?.maxPerDevice ?? retained.maxPerDevice,
        maxBytesPerDevice: retained.roles[role]?.maxBytesPerDevice ?? retained.maxBytesPerDevice,
      }),
    },
  };
}
