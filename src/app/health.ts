import type { Clock, Registry } from "../ports.js";

export interface HealthReport {
  readonly healthy: boolean;
  readonly checks: Readonly<Record<string, unknown>>;
}

/**
 * /healthz: healthy only while the registry takes writes (a read-only file or a full disk fails every
 * enrollment and revocation, so "ok" would be a lie). The probe commits a one-row write, at most once
 * per `cacheMs` however often the endpoint is polled; other checks (sessions, cluster links) add in.
 */
export class HealthCheck {
  private last: { at: number; error: string | null } | null = null;

  constructor(
    private readonly registry: Pick<Registry, "probeWrite">,
    private readonly clock: Clock,
    private readonly extra: () => Promise<Record<string, unknown>> | Record<string, unknown> = () => ({}),
    private readonly cacheMs = 5000,
  ) {}

  async check(): Promise<HealthReport> {
    const now = this.clock.now();
    if (this.last === null || now - this.last.at >= this.cacheMs) {
      const error = await this.registry.probeWrite(now).then(
        () => null,
        (cause: unknown) => (cause instanceof Error ? cause.message : String(cause)),
      );
      this.last = { at: now, error };
    }
    const extra = await this.extra();
    const registry = this.last.error === null ? "ok" : `not writable: ${this.last.error}`;
    const unhealthyExtra = Object.values(extra).some(
      (v) => typeof v === "string" && v !== "ok" && v.startsWith("unavailable"),
    );
    return { healthy: this.last.error === null && !unhealthyExtra, checks: { registry, ...extra } };
  }
}
