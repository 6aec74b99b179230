import { readFileSync } from "node:fs";
import type { Config } from "./config.js";
import { fdBudget, parseOpenFileLimit, type FdBudget } from "./domain/fd-budget.js";
import type { Logger } from "./logger.js";

/** The process's open-file limit (Linux /proc/self/limits); null elsewhere or when unlimited. */
export function openFileLimit(file = "/proc/self/limits"): number | null {
  try {
    return parseOpenFileLimit(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

export function budgetFor(config: Config, limit: number | null): FdBudget {
  const fixed = {
    enroll: config.enroll.maxConnections,
    pki: config.pki.maxConnections,
    admin: config.admin.maxConnections,
    metrics: config.metrics.maxConnections,
  };
  return fdBudget({ limit, fixed, mqtt: config.mqtt.maxConnections });
}

/**
 * The MQTT connection cap that fits the open-file limit next to every other listener's (README "File
 * descriptors"). Lowered with one warning when the limit is too small for `mqtt.maxConnections`: the
 * server still starts, and a flood of devices meets `connection_limit_reached` instead of taking the
 * descriptors the admin and metrics listeners and the registry need. Refuses to start when not even
 * those fit.
 */
export function mqttConnectionCap(config: Config, logger: Logger, limit = openFileLimit()): number {
  const budget = budgetFor(config, limit);
  if (budget.kind === "impossible")
    throw new Error(
      `the open-file limit (${budget.limit}) cannot hold the HTTP listeners' connection caps and the registry; ` +
        `raise it to at least ${budget.required} (ulimit -n ${budget.required}, systemd LimitNOFILE=${budget.required}) ` +
        `or lower enroll/pki/admin/metrics.maxConnections`,
    );
  if (budget.kind === "capped")
    logger.warn(
      {
        service: "mqtt",
        openFileLimit: budget.limit,
        configured: config.mqtt.maxConnections,
        maxConnections: budget.mqtt,
        required: budget.required,
      },
      `open-file limit ${budget.limit} is too small for mqtt.maxConnections ${config.mqtt.maxConnections}: MQTT ` +
        `connections capped at ${budget.mqtt}; run with ulimit -n ${budget.required} (systemd LimitNOFILE=${budget.required})`,
    );
  return budget.mqtt;
}
