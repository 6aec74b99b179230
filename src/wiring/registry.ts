import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import type { Config } from "../config.js";
import type { Registry } from "../ports.js";
import { registryExists as postgresRegistryExists } from "../adapters/postgres/migrate.js";
import { schemaName } from "../adapters/postgres/pool.js";
import { PostgresRegistry } from "../adapters/postgres/registry.js";
import { SqliteRegistry } from "../adapters/sqlite/registry.js";

/** The SQLite file a `sqlite:` registry URL names; `sqlite:` alone is the data dir's registry.db. */
export function sqliteFile(config: Pick<Config, "registry" | "dataDir">): string {
  const path = config.registry.slice("sqlite:".length);
  if (path === "") return join(config.dataDir, "registry.db");
  return isAbsolute(path) ? path : resolve(config.dataDir, path);
}

/**
 * `postgres://…[?schema=NAME]`: the schema parameter is fleetgate's (several registries may share one
 * database); everything else is handed to the driver as it is.
 */
export function postgresTarget(url: string): { url: string; schema?: string } {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get("schema") ?? undefined;
  parsed.searchParams.delete("schema");
  return { url: parsed.toString(), ...(schema === undefined ? {} : { schema }) };
}

export function isPostgres(config: Pick<Config, "registry">): boolean {
  return !config.registry.startsWith("sqlite:");
}

/** Opens (creating and migrating if needed) the registry the configuration names. */
export async function openRegistry(config: Pick<Config, "registry" | "dataDir">): Promise<Registry> {
  if (!isPostgres(config)) return SqliteRegistry.open(sqliteFile(config));
  const { url, schema } = postgresTarget(config.registry);
  return PostgresRegistry.open(url, schema === undefined ? {} : { schema });
}

/** Whether the registry the configuration names exists already (opening it would create it). */
export async function registryExists(config: Pick<Config, "registry" | "dataDir">): Promise<boolean> {
  if (!isPostgres(config)) return existsSync(sqliteFile(config));
  const { url, schema } = postgresTarget(config.registry);
  return postgresRegistryExists(url, schemaName(schema === undefined ? {} : { schema }));
}

/** This node's id: configured, or hostname-<mqtt port> (unique per host as long as ports are). */
export function nodeIdOf(config: Pick<Config, "cluster" | "mqtt">): string {
  return config.cluster.nodeId ?? `${hostname()}-${config.mqtt.port}`;
}

/** A registry URL fit for a log line: the password (if any came through the environment) masked. */
export function describeRegistry(url: string): string {
  if (url.startsWith("sqlite:")) return url;
  const parsed = new URL(url);
  if (parsed.password !== "") parsed.password = "***";
  return parsed.toString();
}
