import { linearScale, shortNumber } from "./scale.js";
import { chartSvg, el, num, type SvgNode } from "./svg.js";

export interface Bar {
  readonly label: string;
  /** null: not measured (drawn as a labelled empty row, never as zero). */
  readonly value: number | null;
  readonly color: string;
}

export interface BarChartOptions {
  readonly id: string;
  readonly title: string;
  readonly bars: readonly Bar[];
  readonly unit: string;
  /** A bound to compare with, drawn as a vertical line (e.g. "target ≥ 300"). */
  readonly target?: { readonly value: number; readonly label: string };
  readonly width?: number;
}

const ROW = 26;

/** Horizontal bars, one per label, each with its value printed at its end (fleetgate vs Mosquitto). */
export function barChart(options: BarChartOptions): SvgNode {
  const width = options.width ?? 560;
  const top = 8;
  const height = top + options.bars.length * ROW + 22;
  const values = options.bars.map((b) => b.value ?? 0);
  // Room for the longest label (about 7 px a character at 12 px), at most 45% of the width.
  const left = Math.min(width * 0.45, Math.max(60, ...options.bars.map((b) => b.label.length * 7 + 14)));
  const x = linearScale(0, Math.max(...values, options.target?.value ?? 0) * 1.15, left, width - 16, { tickCount: 4 });
  const rows = options.bars.map((bar, i) => {
    const y = top + i * ROW;
    const end = bar.value === null ? left : x(bar.value);
    const text = bar.value === null ? "not measured" : `${shortNumber(bar.value)} ${options.unit}`;
    return el(
      "g",
      { class: "bar", "data-label": bar.label, "data-value": bar.value === null ? "" : String(bar.value) },
      el("text", { x: left - 8, y: y + 15, "text-anchor": "end", "font-size": 12, fill: "currentColor" }, bar.label),
      el("rect", { x: left, y: y + 3, width: num(Math.max(0, end - left)), height: ROW - 8, rx: 3, fill: bar.color }),
      el("text", { x: num(end + 6), y: y + 15, "font-size": 11, fill: "currentColor" }, text),
    );
  });
  const target = options.target
    ? el(
        "g",
        { class: "target" },
        el("line", {
          x1: num(x(options.target.value)),
          x2: num(x(options.target.value)),
          y1: top,
          y2: height - 20,
          stroke: "#c0392b",
          "stroke-dasharray": "4 3",
          "stroke-width": 1.5,
        }),
        el(
          "text",
          { x: num(x(options.target.value)), y: height - 6, "text-anchor": "middle", "font-size": 10, fill: "#c0392b" },
          options.target.label,
        ),
      )
    : null;
  const desc = options.bars.map(
    (b) => `${b.label}: ${b.value === null ? "not measured" : `${b.value} ${options.unit}`}`,
  );
  return chartSvg(
    {
      id: options.id,
      title: options.title,
      kind: "bar",
      width,
      height,
      desc: `${desc.join("; ")}${options.target ? `; ${options.target.label}` : ""}`,
    },
    rows,
    target,
  );
}

export interface HistogramBin {
  readonly from: number;
  readonly to: number;
  readonly count: number;
}

/** Equal-width bins over [min, max] of the values (at least one bin; empty input gives none). */
export function bins(values: ArrayLike<number>, count = 20): HistogramBin[] {
  if (values.length === 0) return [];
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    min = Math.min(min, values[i]!);
    max = Math.max(max, values[i]!);
  }
  // A spread so small that its bin width underflows to 0 (5e-324 / 10) is one bin, like no spread at all.
  const spread = (max - min) / count > 0;
  const width = spread ? (max - min) / count : 1;
  const n = spread ? count : 1;
  const counts = new Array<number>(n).fill(0);
  for (let i = 0; i < values.length; i++) counts[Math.min(n - 1, Math.floor((values[i]! - min) / width))]! += 1;
  return counts.map((c, i) => ({ from: min + i * width, to: min + (i + 1) * width, count: c }));
}

/** Vertical bars of a distribution (enrollment latency), x in the values' unit, y in counts. */
export function histogram(options: {
  readonly id: string;
  readonly title: string;
  readonly bins: readonly HistogramBin[];
  readonly unit: string;
  readonly color: string;
  readonly width?: number;
  readonly height?: number;
}): SvgNode {
  const width = options.width ?? 640;
  const height = options.height ?? 220;
  const m = { top: 12, right: 14, bottom: 28, left: 52 };
  const first = options.bins[0]?.from ?? 0;
  const last = options.bins[options.bins.length - 1]?.to ?? 1;
  const x = linearScale(first, last, m.left, width - m.right, { nice: false, tickCount: 6 });
  const y = linearScale(0, Math.max(1, ...options.bins.map((b) => b.count)), height - m.bottom, m.top, {
    tickCount: 4,
  });
  const bars = options.bins.map((b) =>
    el(
      "rect",
      {
        x: num(x(b.from) + 0.5),
        y: num(y(b.count)),
        width: num(Math.max(0.5, x(b.to) - x(b.from) - 1)),
        height: num(y(0) - y(b.count)),
        fill: options.color,
        "data-count": b.count,
      },
      el("title", {}, `${shortNumber(b.from)}–${shortNumber(b.to)} ${options.unit}: ${b.count}`),
    ),
  );
  const xTicks = x.ticks.map((t) =>
    el(
      "text",
      { x: num(x(t)), y: height - 10, "text-anchor": "middle", "font-size": 10, fill: "currentColor" },
      `${shortNumber(t)}`,
    ),
  );
  const yTicks = y.ticks.map((t) =>
    el(
      "text",
      { x: m.left - 6, y: num(y(t) + 4), "text-anchor": "end", "font-size": 10, fill: "currentColor" },
      shortNumber(t),
    ),
  );
  const total = options.bins.reduce((s, b) => s + b.count, 0);
  return chartSvg(
    {
      id: options.id,
      title: options.title,
      kind: "histogram",
      width,
      height,
      desc: `${total} values in ${options.bins.length} bins, ${shortNumber(first)} to ${shortNumber(last)} ${options.unit}`,
    },
    el("line", { x1: m.left, x2: width - m.right, y1: num(y(0)), y2: num(y(0)), stroke: "currentColor" }),
    el("g", { class: "bars" }, bars),
    el("g", {}, xTicks),
    el("g", {}, yTicks),
    el(
      "text",
      { x: width - m.right, y: height - 0, "text-anchor": "end", "font-size": 10, fill: "currentColor" },
      options.unit,
    ),
  );
}
