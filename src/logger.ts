import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/**
 * Secrets never reach a log line: bootstrap tokens, private keys, passwords, CSRs (they name the
 * device a token may enroll) and Authorization headers (EST carries the token as the HTTP Basic
 * password, RFC 7030 §3.2.3) are censored at the top level and up to two levels down, which covers
 * `req.headers.authorization` and `req.body.token`. Each `*` in a pino path is exactly one level.
 */
const SECRET_FIELDS = ["token", "password", "privateKey", "key", "keyPem", "csr", "authorization"];
export const REDACTED_PATHS = SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]);

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACTED_PATHS, censor: "[redacted]" }, base: { app: "fleetgate" } };
  return destination ? pino(options, destination) : pino(options);
}
