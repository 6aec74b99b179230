import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { DEFAULT_ACL, templateProblem } from "./domain/acl.js";
import { DEFAULT_ALLOWED_KEYS } from "./domain/csr-policy.js";
import { parseDuration } from "./domain/duration.js";
import { DEFAULT_PROFILES, ROLE_PATTERN } from "./domain/profile.js";
import { Pkcs11ConfigSchema } from "./adapters/ca/pkcs11/config.js";
import { cluster, registryUrl, workersProblem } from "./config-cluster.js";

/**
 * The whole configuration, validated once at start-up and frozen. Sources, weakest first:
 * `fleetgate.json` in the data dir < `FLEETGATE_*` environment variables < command-line flags.
 */
const port = z.number().int().min(0).max(65535);
const host = z.string().min(1);
const duration = z.union([z.number().int().positive(), z.string()]).transform((value, ctx) => {
  const ms = typeof value === "number" ? value : parseDuration(value);
  if (ms === null)
    ctx.addIssue({
      code: "custom",
      message: `expected a duration like 30s, 24h or 90d (got ${JSON.stringify(value)})`,
    });
  return ms ?? 0;
});
const rate = z.strictObject({ perSecond: z.number().positive(), burst: z.number().int().positive() });
const listener = (defaultHost: string, defaultPort: number) =>
  z.strictObject({ host: host.default(defaultHost), port: port.default(defaultPort) });

/**
 * Socket limits of one HTTP(S) listener (README "Listener timeouts and connection caps"); the TLS
 * ones also get `handshakeTimeout`. Node refuses a header timeout longer than the request timeout.
 */
const httpLimits = (maxConnections: number, connectionTimeout = 30_000) => ({
  maxConnections: z.number().int().positive().default(maxConnections),
  connectionTimeout: duration.default(connectionTimeout),
  keepAliveTimeout: duration.default(5_000),
  headersTimeout: duration.default(10_000),
  requestTimeout: duration.default(30_000),
});
const tlsLimits = { handshakeTimeout: duration.default(10_000) };
const headersWithinRequest = (limits: { headersTimeout: number; requestTimeout: number }) =>
  limits.headersTimeout <= limits.requestTimeout;
const headersWithinRequestIssue = {
  message: "headersTimeout must not exceed requestTimeout",
  path: ["headersTimeout"],
};

/** An ACL template must be a valid filter for every CN, and may never reach '$' (internal) topics. */
const aclTemplate = z.string().superRefine((template, ctx) => {
  const problem = templateProblem(template);
  if (problem !== null)
    ctx.addIssue({ code: "custom", message: `ACL template ${JSON.stringify(template)}: ${problem}` });
});

/**
 * `ca`: where new CA keys are made (`init`, `ca rotate`): 0600 files or the PKCS#11 token of `pkcs11`.
 * Which key an existing CA uses is recorded in pki/issuing-cas.json, not here.
 */
const caSection = z
  .strictObject({
    key: z.enum(["file", "pkcs11"]).default("file"),
    rootKey: z.enum(["file", "pkcs11"]).default("file"),
    /** How long superseded certificates are kept after they expire (then pruned from the registry). */
    supersededRetention: duration.default(24 * 3_600_000),
  })
  .prefault({});

const ConfigSchema = z.strictObject({
  dataDir: z.string().min(1).default("./data"),
  registry: registryUrl.default("sqlite:"),
  cluster,
  hostnames: z.array(z.string().regex(/^[A-Za-z0-9.:-]+$/, "expected a DNS name or IP address")).default([]),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  // TLS session resumption on the MQTT and enrollment listeners (README "TLS session resumption").
  tlsSessions: z
    .strictObject({
      // A ticket resumes until the end of its period; RFC 8446 §4.6.1 caps a ticket's lifetime at 7 days.
      ticketKeyRotation: duration
        .default(12 * 3_600_000)
        .refine((ms) => ms >= 1_000 && ms <= 7 * 86_400_000, "must be from 1s to 7d"),
    })
    .prefault({}),
  enroll: z
    .strictObject({
      ...listener("0.0.0.0", 8443).shape,
      ...httpLimits(1000),
      ...tlsLimits,
      bodyLimit: z.number().int().min(1024).max(1048576).default(16384),
      rateLimit: z
        .strictObject({
          perAddress: rate.default({ perSecond: 100, burst: 500 }),
          perToken: rate.default({ perSecond: 50, burst: 100 }),
        })
        .prefault({}),
    })
    .refine(headersWithinRequest, headersWithinRequestIssue)
    .prefault({}),
  mqtt: z
    .strictObject({
      ...listener("0.0.0.0", 8883).shape,
      handshakeTimeout: duration.default(10_000),
      maxConnections: z.number().int().positive().default(20_000),
      connectRatePerAddress: rate.default({ perSecond: 200, burst: 1000 }),
      maxPacketSize: z.number().int().min(128).max(268435455).default(65536),
      publishRate: rate.default({ perSecond: 100, burst: 200 }),
      maxPendingConnections: z.number().int().positive().default(2000),
      maxPendingPerAddress: z.number().int().positive().default(500),
      // keep-alive 0 would let an idle session live for ever: 5 s is the least a client may ask for.
      keepalive: z
        .strictObject({
          min: z.number().int().min(0).max(65535).default(5),
          max: z.number().int().min(0).max(65535).default(3600),
        })
        .refine((bounds) => bounds.min <= bounds.max, "min must not be above max")
        .prefault({}),
      maxOutgoingQueue: z.number().int().positive().default(1000),
      maxSubscriptionsPerClient: z.number().int().positive().default(100),
      maxFiltersPerSubscribe: z.number().int().positive().default(64),
      maxStoredQos2: z
        .strictObject({ messages: z.number().int().positive(), bytes: z.number().int().positive() })
        .default({ messages: 1000, bytes: 4 * 1024 * 1024 }),
      retained: z
        .strictObject({
          maxPerDevice: z.number().int().min(0).default(100),
          maxBytesPerDevice: z
            .number()
            .int()
            .min(0)
            .default(1024 * 1024),
          maxTotalBytes: z
            .number()
            .int()
            .min(0)
            .default(256 * 1024 * 1024),
          roles: z
            .record(
              z.string().regex(ROLE_PATTERN),
              z.strictObject({
                maxPerDevice: z.number().int().min(0).optional(),
                maxBytesPerDevice: z.number().int().min(0).optional(),
              }),
            )
            .default({}),
        })
        .prefault({}),
      onDeniedPublish: z.enum(["disconnect", "drop"]).default("disconnect"),
    })
    .prefault({}),
  pki: z
    .strictObject({
      ...listener("0.0.0.0", 8880).shape,
      ...httpLimits(512),
      publicUrl: z.url({ protocol: /^https?$/ }).optional(),
    })
    .refine(headersWithinRequest, headersWithinRequestIssue)
    // Unset, the URL follows the port: moving the listener must not leave certificates naming :8880.
    .transform((pki) => ({
      ...pki,
      publicUrl: pki.publicUrl ?? `http://localhost:${pki.port === 0 ? 8880 : pki.port}`,
    }))
    .prefault({}),
  admin: z
    .strictObject({
      ...listener("127.0.0.1", 9443).shape,
      // A silent socket while a long answer is computed (audit verify of a long log) is not a stall.
      ...httpLimits(64, 120_000),
      ...tlsLimits,
      // Spent only by refused requests (no or a wrong credential), per source address.
      rateLimit: rate.default({ perSecond: 5, burst: 20 }),
      refusalAuditInterval: duration.default(60_000),
    })
    .refine(headersWithinRequest, headersWithinRequestIssue)
    .prefault({}),
  metrics: z
    .strictObject({ ...listener("127.0.0.1", 9464).shape, ...httpLimits(32) })
    .refine(headersWithinRequest, headersWithinRequestIssue)
    .prefault({}),
  profiles: z
    .record(
      z.string().regex(/^[a-z][a-z0-9-]{0,31}$/),
      z.strictObject({ role: z.string().regex(ROLE_PATTERN), lifetime: duration }),
    )
    .prefault(() => structuredClone(DEFAULT_PROFILES) as never),
  allowedKeys: z
    .array(
      z.string().regex(/^(ec:P-(256|384|521)|rsa:\d{4,5})$/, "expected ec:P-256, ec:P-384, ec:P-521 or rsa:<min bits>"),
    )
    .min(1)
    .default([...DEFAULT_ALLOWED_KEYS]),
  acl: z
    .record(
      z.string().regex(ROLE_PATTERN),
      z.strictObject({ publish: z.array(aclTemplate), subscribe: z.array(aclTemplate) }),
    )
    .default(() => structuredClone(DEFAULT_ACL)),
  ca: caSection,
  pkcs11: Pkcs11ConfigSchema.optional(),
});

/** A CA key in a token needs to know which token: refused at start-up, naming what to set. */
const CheckedConfigSchema = ConfigSchema.superRefine((config, ctx) => {
  for (const key of ["key", "rootKey"] as const)
    if (config.ca[key] === "pkcs11" && config.pkcs11 === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["pkcs11"],
        message: `ca.${key} is pkcs11: set pkcs11.module, pkcs11.token and pkcs11.keyLabel (the PIN comes from FLEETGATE_PKCS11_PIN or pkcs11.pinFile)`,
      });
});

type ParsedConfig = z.output<typeof ConfigSchema>;
/** `cluster.workers` is always resolved: one per core with Redis, else 1. */
export type Config = Readonly<
  Omit<ParsedConfig, "cluster"> & { cluster: ParsedConfig["cluster"] & { readonly workers: number } }
>;
export type ConfigInput = z.input<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Environment variables and the key each sets; documented in the README. */
export const ENV_KEYS: Readonly<Record<string, string>> = {
  FLEETGATE_DATA: "dataDir",
  FLEETGATE_HOSTNAMES: "hostnames",
  FLEETGATE_LOG_LEVEL: "logLevel",
  FLEETGATE_TLS_TICKET_KEY_ROTATION: "tlsSessions.ticketKeyRotation",
  FLEETGATE_ENROLL_HOST: "enroll.host",
  FLEETGATE_ENROLL_PORT: "enroll.port",
  FLEETGATE_MQTT_HOST: "mqtt.host",
  FLEETGATE_MQTT_PORT: "mqtt.port",
  FLEETGATE_PKI_HOST: "pki.host",
  FLEETGATE_PKI_PORT: "pki.port",
  FLEETGATE_PKI_PUBLIC_URL: "pki.publicUrl",
  FLEETGATE_ADMIN_HOST: "admin.host",
  FLEETGATE_ADMIN_PORT: "admin.port",
  FLEETGATE_METRICS_HOST: "metrics.host",
  FLEETGATE_METRICS_PORT: "metrics.port",
  FLEETGATE_REGISTRY: "registry",
  FLEETGATE_REDIS: "cluster.redis",
  FLEETGATE_NODE_ID: "cluster.nodeId",
  FLEETGATE_CLUSTER_KEY_PREFIX: "cluster.keyPrefix",
  FLEETGATE_WORKERS: "cluster.workers",
  FLEETGATE_CA_KEY: "ca.key",
  FLEETGATE_CA_ROOT_KEY: "ca.rootKey",
  FLEETGATE_PKCS11_MODULE: "pkcs11.module",
  FLEETGATE_PKCS11_TOKEN: "pkcs11.token",
  FLEETGATE_PKCS11_KEY_LABEL: "pkcs11.keyLabel",
  FLEETGATE_PKCS11_PIN_FILE: "pkcs11.pinFile",
};

type Tree = Record<string, unknown>;

function setPath(target: Tree, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
    node = node[key] as Tree;
  }
  node[keys[keys.length - 1]!] = value;
}

function mergeDeep(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const prior = out[key];
    const bothObjects = isPlainObject(prior) && isPlainObject(value);
    out[key] = bothObjects ? mergeDeep(prior, value) : value;
  }
  return out;
}

function isPlainObject(value: unknown): value is Tree {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function envValue(key: string, raw: string): unknown {
  if (key === "hostnames")
    return raw
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  // A token or key label of digits is still a label.
  if (key.startsWith("pkcs11.")) return raw;
  return /^\d+$/.test(raw) ? Number(raw) : raw;
}

export function configFromEnv(env: NodeJS.ProcessEnv): Tree {
  const out: Tree = {};
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw !== undefined && raw !== "") setPath(out, key, envValue(key, raw));
  }
  return out;
}

function readConfigFile(dataDir: string): Tree {
  const file = join(dataDir, "fleetgate.json");
  if (!existsSync(file)) return {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (!isPlainObject(parsed)) throw new Error("top level must be an object");
    return parsed;
  } catch (error) {
    throw new ConfigError(`config file ${file}: ${(error as Error).message}`);
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `  ${issue.path.length ? issue.path.join(".") : "(root)"}: ${issue.message}`)
    .join("\n");
}

/**
 * Profiles and ACL roles given in configuration are added to (or replace) the built-in ones by
 * name rather than replacing the whole table: a file that only shortens the `device` lifetime
 * must not silently delete the `service` profile and role.
 */
function withBuiltInEntries(input: Tree): Tree {
  const merged: Tree = { ...input };
  if (input["profiles"] === undefined || isPlainObject(input["profiles"]))
    merged["profiles"] = { ...DEFAULT_PROFILES, ...input["profiles"] };
  if (input["acl"] === undefined || isPlainObject(input["acl"]))
    merged["acl"] = { ...structuredClone(DEFAULT_ACL), ...input["acl"] };
  return merged;
}

/** Validates one merged input; throws a ConfigError naming every bad key and what it allows. */
export function parseConfig(input: Tree): Config {
  const result = CheckedConfigSchema.safeParse(withBuiltInEntries(input));
  if (!result.success) throw new ConfigError(`invalid configuration:\n${formatIssues(result.error)}`);
  const config = result.data;
  config.dataDir = resolve(config.dataDir);
  // Several nodes need one registry they all write: a SQLite file belongs to one process.
  if (config.cluster.redis !== undefined && config.registry.startsWith("sqlite:")) {
    throw new ConfigError(
      "invalid configuration:\n  cluster.redis: cluster mode needs a PostgreSQL registry (registry: postgres://…); " +
        "a SQLite registry serves one node",
    );
  }
  const workers = config.cluster.workers ?? (config.cluster.redis === undefined ? 1 : availableParallelism());
  const problem = workersProblem(config.cluster.redis, workers);
  if (problem !== null) throw new ConfigError(`invalid configuration:\n  cluster.workers: ${problem}`);
  return deepFreeze({ ...config, cluster: { ...config.cluster, workers } });
}

/** file < env < flags. The data dir itself may come from env or flags, so it is found first. */
export function loadConfig(flags: Tree = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const fromEnv = configFromEnv(env);
  const given = flags["dataDir"] ?? fromEnv["dataDir"];
  const dataDir = typeof given === "string" ? given : "./data";
  const merged = mergeDeep(mergeDeep(readConfigFile(dataDir), fromEnv), flags);
  return parseConfig(merged);
}
