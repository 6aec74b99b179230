import { FleetgateError } from "../../domain/errors.js";

/**
 * Errors that mean "PostgreSQL cannot be reached right now" rather than "this request is wrong": the
 * socket errors, the server's shutdown codes (57P01-57P03) and SQLSTATE class 08 (connection exception),
 * and what the driver throws for a dropped or never-made connection.
 */
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "EPIPE",
  "57P01",
  "57P02",
  "57P03",
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
]);
const UNREACHABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED/i;

/** The error as the port's callers should see it: `unavailable` (HTTP 503, CONNACK 3) when unreachable. */
export function asUnavailable(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const unreachable = (typeof code === "string" && UNREACHABLE_CODES.has(code)) || UNREACHABLE_MESSAGES.test(message);
  return unreachable ? new FleetgateError("unavailable", `registry unreachable: ${message}`, { cause: error }) : error;
}

/** Runs a registry call, translating unreachability (the store's fact) into the port's `unavailable`. */
export async function reachable<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw asUnavailable(error);
  }
}
