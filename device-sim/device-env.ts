import type { CredentialStore } from "./credential-store.js";
import type { EnrollClient } from "./enroll-client.js";
import type { Limiter } from "./limiter.js";
import type { Scheduler } from "./scheduler.js";
import type { EnrollMethod, FleetEndpoints, FleetEvent, RetryPolicy, TokenSource } from "./types.js";

/** What every simulated device shares with the rest of the fleet: endpoints, pools, the clock. */
export interface DeviceEnvironment {
  readonly endpoints: FleetEndpoints;
  readonly enroll: EnrollClient;
  readonly store: CredentialStore;
  readonly scheduler: Scheduler;
  /** Bounds key generation + enrollment (and renewal) in flight across the fleet. */
  readonly enrollments: Limiter;
  /** Bounds MQTT TLS handshakes in flight, so a storm does not time itself out client-side. */
  readonly connects: Limiter;
  readonly token: TokenSource;
  readonly method: EnrollMethod;
  readonly retry: RetryPolicy;
  /** Telemetry messages per second per device. */
  readonly rate: number;
  /** Renew when this fraction of the certificate's lifetime (from receipt to notAfter) has passed. */
  readonly renewAtFraction: number;
  /** Renewals move by up to ±renewJitter/2 of the lifetime at random (device-sim/renewal.ts). */
  readonly renewJitter: number;
  /** Aborted when the run ends: loops stop, requests in flight are cancelled. */
  readonly signal: AbortSignal;
  readonly emit: (event: FleetEvent) => void;
}
