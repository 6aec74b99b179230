import type { RatePoint, RateSeries } from "../domain/rate-series.js";
import type { Clock, Registry, SessionDirectory } from "../ports.js";

/** What the overview's live charts plot, per second. */
export const ACTIVITY_KEYS = ["enrollments", "messagesIn", "messagesOut"] as const;
export type ActivityKey = (typeof ACTIVITY_KEYS)[number];
export type ActivitySeries = RateSeries<ActivityKey>;

/** Refusals since the server started, by reason (from its counters). */
export interface RefusalCounts {
  /** TLS handshakes to the MQTT listener that failed (no certificate, unknown CA, expired, timeout). */
  readonly handshakeFailures: Readonly<Record<string, number>>;
  /** CONNECTs refused after the handshake (certificate not active, client id mismatch …). */
  readonly mqttRefusals: Readonly<Record<string, number>>;
  /** Packets or connections denied by permission or limit. */
  readonly mqttDenials: Readonly<Record<string, number>>;
  /** HTTP requests refused, keyed `<listener>:<code>`. */
  readonly httpRefusals: Readonly<Record<string, number>>;
}

export interface OverviewDeps {
  readonly registry: Registry;
  readonly sessions: SessionDirectory;
  readonly clock: Clock;
  readonly activity: ActivitySeries;
  readonly refusals: () => Promise<RefusalCounts>;
}

export interface FleetOverview {
  readonly at: number;
  readonly devices: {
    readonly total: number;
    readonly active: number;
    readonly revoked: number;
    readonly online: number;
  };
  readonly certificatesExpiring: { readonly within7d: number; readonly within30d: number };
  readonly activity: {
    readonly stepMs: number;
    readonly windowMs: number;
    readonly points: readonly RatePoint<ActivityKey>[];
  };
  readonly refusals: RefusalCounts;
}

const DAY_MS = 86_400_000;

/** The console's first page: fleet counts (a few indexed queries, never a scan), rates, refusals. */
export async function fleetOverview(deps: OverviewDeps): Promise<FleetOverview> {
  const now = deps.clock.now();
  const [counts, online, within7d, within30d, refusals] = await Promise.all([
    deps.registry.countDevices(),
    deps.sessions.countOnline(),
    deps.registry.countActiveCertificatesExpiringBefore(now + 7 * DAY_MS),
    deps.registry.countActiveCertificatesExpiringBefore(now + 30 * DAY_MS),
    deps.refusals(),
  ]);
  const { stepMs, windowMs } = deps.activity;
  return {
    at: now,
    devices: { total: counts.total, active: counts.total - counts.revoked, revoked: counts.revoked, online },
    certificatesExpiring: { within7d, within30d },
    activity: { stepMs, windowMs, points: deps.activity.points(now) },
    refusals,
  };
}
