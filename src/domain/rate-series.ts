/**
 * Per-second rates over a sliding window, from monotonically increasing totals sampled at a fixed
 * step (the overview's "enrollments and messages per second over the last 15 minutes"). A ring
 * buffer: memory is fixed by window / step, however long the server runs.
 */
export interface RatePoint<K extends string> {
  /** End of the interval the rates cover (epoch ms). */
  readonly at: number;
  readonly rates: Readonly<Record<K, number>>;
}

export class RateSeries<K extends string> {
  private readonly ring: (RatePoint<K> | undefined)[];
  private next = 0;
  private last: { readonly at: number; readonly totals: Readonly<Record<K, number>> } | null = null;

  constructor(
    private readonly keys: readonly K[],
    readonly windowMs = 15 * 60_000,
    readonly stepMs = 5_000,
  ) {
    if (!(stepMs > 0) || !(windowMs >= stepMs)) throw new RangeError("need windowMs >= stepMs > 0");
    this.ring = new Array<RatePoint<K> | undefined>(Math.ceil(windowMs / stepMs));
  }

  /**
   * Records the totals at `at`; the point is the rate since the previous sample. The first sample
   * only sets the baseline. A total that went down (a restarted counter) counts as no activity.
   */
  sample(at: number, totals: Readonly<Record<K, number>>): void {
    const previous = this.last;
    this.last = { at, totals: { ...totals } };
    if (previous === null || at <= previous.at) return;
    const seconds = (at - previous.at) / 1000;
    const rates = Object.fromEntries(
      this.keys.map((key) => [key, Math.max(0, totals[key] - previous.totals[key]) / seconds]),
    ) as Record<K, number>;
    this.ring[this.next] = { at, rates };
    this.next = (this.next + 1) % this.ring.length;
  }

  /** The points within the window ending at `now`, oldest first. */
  points(now: number): RatePoint<K>[] {
    const ordered = [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    return ordered.filter((p): p is RatePoint<K> => p !== undefined && p.at > now - this.windowMs && p.at <= now);
  }
}
