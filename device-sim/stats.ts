export interface Distribution {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** Nearest-rank percentile (p in (0, 100]) of ascending values; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** p50/p99/max of the values, or null when there are none. */
export function distribution(values: ArrayLike<number>): Distribution | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1]!,
  };
}

/** Events per second over a window; the window is at least 1 ms so a burst does not divide by zero. */
export function ratePerSecond(count: number, fromMs: number, toMs: number): number {
  return count === 0 ? 0 : Math.round((count / Math.max(1, toMs - fromMs)) * 1000 * 10) / 10;
}
