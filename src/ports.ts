/**
 * The interfaces the use cases talk to. Adapters implement them; nothing in src/app imports an adapter.
 * A port with more than one adapter has one contract test suite that every adapter runs. One file per
 * concern under src/ports/; this module is the one place everything imports them from.
 */

export type { CertificateStatus, DeviceStatus, OperatorStatus } from "./domain/registry-facts.js";
export * from "./ports/registry.js";
export * from "./ports/signing.js";
export * from "./ports/pki.js";
export * from "./ports/sessions.js";

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
