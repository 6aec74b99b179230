import { readFileSync } from "node:fs";
import { pkiPaths } from "../src/adapters/shared/key-files.js";
import { loadConfig } from "../src/config.js";
import { liveServers } from "../src/runtime-file.js";
import type { FleetEndpoints, MqttBroker } from "./types.js";

export interface EndpointFlags {
  /** A server's data dir: root CA, fleetgate.json and the runtime file with the bound ports. */
  readonly dataDir?: string;
  readonly enrollUrl?: string;
  /** mqtts://host:port */
  readonly mqttUrl?: string;
  /** Root CA PEM file. */
  readonly caFile?: string;
}

export class EndpointError extends Error {
  override name = "EndpointError";
}

/**
 * Where the fleet connects. Next to `fleetgate serve` the data dir says it all (ports from the
 * runtime file, so ephemeral ports just work); explicit flags override it piece by piece.
 */
export function resolveEndpoints(flags: EndpointFlags): FleetEndpoints {
  const fromData = flags.dataDir ? endpointsFromDataDir(flags.dataDir) : null;
  const brokers = flags.mqttUrl ? parseMqttUrls(flags.mqttUrl) : (fromData?.mqttBrokers ?? []);
  const mqtt = brokers[0] ?? fromData;
  const enrollUrl = flags.enrollUrl?.replace(/\/+$/, "") ?? fromData?.enrollUrl;
  const caPem = flags.caFile ? readFileSync(flags.caFile, "utf8") : fromData?.caPem;
  if (!enrollUrl || !mqtt || !caPem)
    throw new EndpointError("give --data DIR (a fleetgate data dir), or all of --enroll-url, --mqtt-url and --ca");
  return { enrollUrl, mqttHost: mqtt.mqttHost, mqttPort: mqtt.mqttPort, mqttBrokers: brokers, caPem };
}

function endpointsFromDataDir(dataDir: string): FleetEndpoints {
  const config = loadConfig({ dataDir });
  // Every live node of the data dir (a cluster on one host): devices spread over them and fail over.
  const servers = liveServers(config.dataDir);
  const runtime = servers[0];
  const enrollPort = runtime?.ports["enroll"] ?? config.enroll.port;
  const mqttHost = reachableHost(config.mqtt.host);
  const brokers = servers.map((server) => ({ mqttHost, mqttPort: server.ports["mqtt"] ?? config.mqtt.port }));
  const mqttPort = brokers[0]?.mqttPort ?? config.mqtt.port;
  return {
    enrollUrl: `https://${reachableHost(config.enroll.host)}:${enrollPort}`,
    mqttHost,
    mqttPort,
    mqttBrokers: brokers,
    caPem: readFileSync(pkiPaths(config.dataDir).rootCert, "utf8"),
  };
}

/**
 * A wildcard bind address is reached through loopback; `localhost` is always a SAN of the
 * server certificate.
 */
function reachableHost(host: string): string {
  return host === "0.0.0.0" || host === "::" || host === "127.0.0.1" || host === "::1" ? "localhost" : host;
}

/** `mqtts://a:8883,mqtts://b:8883`: the nodes of a cluster, in order. */
export function parseMqttUrls(text: string): MqttBroker[] {
  return text
    .split(",")
    .map((url) => url.trim())
    .filter(Boolean)
    .map(parseMqttUrl);
}

export function parseMqttUrl(text: string): MqttBroker {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new EndpointError(`--mqtt-url ${text} is not a URL (expected mqtts://host:port)`);
  }
  if (url.protocol !== "mqtts:")
    throw new EndpointError(`--mqtt-url must be mqtts:// (devices use mutual TLS), got ${url.protocol}`);
  return { mqttHost: url.hostname.replace(/^\[|\]$/g, ""), mqttPort: url.port ? Number(url.port) : 8883 };
}
