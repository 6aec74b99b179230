import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/**
 * Secrets never reach a log line: bootstrap tokens, private keys, passwords and Authorization
 * headers are censored wherever they appear in a logged object.
 */
export const REDACTED_PATHS = [
  "token",
  "*.token",
  "password",
  "*.password",
  "privateKey",
  "*.privateKey",
  "key",
  "*.key",
  "authorization",
  "req.headers.authorization",
  "headers.authorization",
  "*.headers.authorization",
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACTED_PATHS, censor: "[redacted]" }, base: { app: "fleetgate" } };
  return destination ? pino(options, destination) : pino(options);
}
