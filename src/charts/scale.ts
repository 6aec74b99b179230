/** Linear scales and "nice" tick values (1, 2, 5 × 10^n steps), as axis labels want them. */
export interface Scale {
  (value: number): number;
  readonly domain: readonly [number, number];
  readonly ticks: readonly number[];
}

function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const factor = raw / power;
  return (factor <= 1 ? 1 : factor <= 2 ? 2 : factor <= 5 ? 5 : 10) * power;
}

/**
 * Maps [min, max] onto [from, to]; with `nice`, the domain is widened to whole ticks. An empty
 * span (all values equal) becomes [v, v + 1] so nothing divides by zero.
 */
export function linearScale(
  min: number,
  max: number,
  from: number,
  to: number,
  options: { readonly nice?: boolean; readonly tickCount?: number } = {},
): Scale {
  let lo = Number.isFinite(min) ? min : 0;
  let hi = Number.isFinite(max) ? max : 1;
  if (hi <= lo) hi = lo + 1;
  const step = niceStep(hi - lo, options.tickCount ?? 5);
  if (options.nice ?? true) {
    lo = Math.floor(lo / step) * step;
    hi = Math.ceil(hi / step) * step;
  }
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step / 1e6; t += step) ticks.push(Number(t.toPrecision(12)));
  const scale = (value: number) => from + ((value - lo) / (hi - lo)) * (to - from);
  return Object.assign(scale, { domain: [lo, hi] as const, ticks });
}

/** Human label for a tick: 1.5k, 2M, 0.25. */
export function shortNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (abs >= 1e4) return `${Number((value / 1e3).toPrecision(3))}k`;
  return String(Number(value.toPrecision(3)));
}
