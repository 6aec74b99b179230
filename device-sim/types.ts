/**
 * The simulator's public vocabulary: what a caller gives runFleet and what it hears back while
 * the fleet runs. The report itself is in report.ts.
 */
export type Scenario = "steady" | "storm" | "revoke" | "renew" | "rotate";
export const SCENARIOS: readonly Scenario[] = ["steady", "storm", "revoke", "renew", "rotate"];

export type EnrollMethod = "est" | "json";

export interface MqttBroker {
  readonly mqttHost: string;
  readonly mqttPort: number;
}

/** Where a device finds the server, and the root it trusts to verify it. */
export interface FleetEndpoints {
  /** Base URL of the enrollment listener, e.g. https://localhost:8443 */
  readonly enrollUrl: string;
  readonly mqttHost: string;
  readonly mqttPort: number;
  /**
   * Every broker node a device may use (the first is mqttHost:mqttPort). A device starts on one chosen
   * by its id and moves to the next when a connection attempt fails (a node went down).
   */
  readonly mqttBrokers?: readonly MqttBroker[];
  /** Root CA PEM (DATA/pki/root-ca.crt). */
  readonly caPem: string;
}

/** A group token for every device, or a function that hands out a token per device id. */
export type TokenSource = string | ((deviceId: string) => string | Promise<string>);

export async function tokenFor(source: TokenSource, deviceId: string): Promise<string> {
  return typeof source === "string" ? source : source(deviceId);
}

/** How a device reacts to failure: jittered exponential backoff and two attempt budgets. */
export interface RetryPolicy {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Consecutive refusals (HTTP 401/403, CONNACK ≠ 0, TLS alerts about our certificate) before giving up. */
  readonly maxRefusals: number;
  /** Consecutive transient failures (network, 429, 5xx, timeouts) before giving up. */
  readonly maxTransientFailures: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  baseDelayMs: 250,
  maxDelayMs: 15_000,
  maxRefusals: 4,
  maxTransientFailures: 30,
};

export type RefusalStage = "enroll" | "connect" | "renew";

/** What happens to devices, for a demo to print; never one per message. */
export type FleetEvent =
  | { readonly type: "enrolled"; readonly deviceId: string; readonly at: number; readonly method: EnrollMethod }
  | { readonly type: "rebooted"; readonly deviceId: string; readonly at: number }
  | { readonly type: "connected"; readonly deviceId: string; readonly at: number; readonly reconnect: boolean }
  | { readonly type: "renewed"; readonly deviceId: string; readonly at: number; readonly notAfter: number }
  | { readonly type: "kicked"; readonly deviceId: string; readonly at: number }
  | {
      readonly type: "refused";
      readonly deviceId: string;
      readonly at: number;
      readonly stage: RefusalStage;
      readonly reason: string;
    }
  | { readonly type: "gave-up"; readonly deviceId: string; readonly at: number; readonly reason: string }
  | { readonly type: "revoked"; readonly deviceId: string; readonly at: number; readonly error?: string };

/** A live snapshot for progress bars, emitted a few times a second. */
export interface FleetProgress {
  readonly elapsedMs: number;
  readonly devices: number;
  readonly online: number;
  readonly enrolled: number;
  readonly sent: number;
  readonly received: number;
  readonly kicks: number;
  readonly renewals: number;
  readonly gaveUp: number;
}
