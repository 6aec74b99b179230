import { linearScale, shortNumber } from "./scale.js";
import { chartSvg, el, num, type SvgNode } from "./svg.js";

export interface LineSeries {
  readonly name: string;
  readonly color: string;
  /** [x, y] in data units; a NaN y breaks the line (no data there). */
  readonly points: readonly (readonly [number, number])[];
}

/** Something that happened at one instant, drawn as a vertical line with a tooltip. */
export interface ChartMarker {
  readonly x: number;
  readonly label: string;
  readonly color: string;
  /** e.g. "kick", "refusal": lets a reader (or a test) tell markers apart. */
  readonly kind: string;
}

export interface LineChartOptions {
  /** Unique in the page: the ids of the chart's <title> and <desc> derive from it. */
  readonly id: string;
  /** The accessible name (also the tooltip of the whole chart). */
  readonly title: string;
  readonly series: readonly LineSeries[];
  readonly markers?: readonly ChartMarker[];
  readonly xDomain?: readonly [number, number];
  readonly xFormat: (x: number) => string;
  readonly yFormat?: (y: number) => string;
  readonly yLabel: string;
  readonly width?: number;
  readonly height?: number;
}

const MARGIN = { top: 24, right: 14, bottom: 26, left: 52 } as const;

function pathOf(points: readonly (readonly [number, number])[], x: (v: number) => number, y: (v: number) => number) {
  let d = "";
  let pen = "M";
  for (const [px, py] of points) {
    if (!Number.isFinite(py)) {
      pen = "M";
      continue;
    }
    d += `${pen}${num(x(px))} ${num(y(py))}`;
    pen = "L";
  }
  return d;
}

function legend(series: readonly LineSeries[], markers: readonly ChartMarker[]): SvgNode {
  const kinds = [...new Map(markers.map((m) => [m.kind, m.color])).entries()].map(([name, color]) => ({ name, color }));
  let x = MARGIN.left;
  const items = [...series, ...kinds].map((item) => {
    const node = el(
      "g",
      { transform: `translate(${x} 8)` },
      el("rect", { width: 10, height: 10, rx: 2, fill: item.color }),
      el("text", { x: 14, y: 9, "font-size": 11, fill: "currentColor" }, item.name),
    );
    x += 24 + item.name.length * 6.5;
    return node;
  });
  return el("g", { class: "legend" }, items);
}

function summary(options: LineChartOptions): string {
  const parts = options.series.map((s) => {
    const ys = s.points.map((p) => p[1]).filter(Number.isFinite);
    if (ys.length === 0) return `${s.name}: no data`;
    return `${s.name}: ${ys.length} points, max ${shortNumber(Math.max(...ys))}, last ${shortNumber(ys[ys.length - 1]!)}`;
  });
  const markers = options.markers?.length ? `; ${options.markers.length} events marked` : "";
  return `${parts.join("; ")}${markers} (${options.yLabel})`;
}

/** A time series chart: one line per series, gridlines, axis ticks, event markers, a legend. */
export function lineChart(options: LineChartOptions): SvgNode {
  const width = options.width ?? 640;
  const height = options.height ?? 220;
  const markers = options.markers ?? [];
  const xs = [...options.series.flatMap((s) => s.points.map((p) => p[0])), ...markers.map((m) => m.x)];
  const ys = options.series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  const [x0, x1] = options.xDomain ?? [Math.min(...xs), Math.max(...xs)];
  const x = linearScale(x0, x1, MARGIN.left, width - MARGIN.right, { nice: false, tickCount: 6 });
  const y = linearScale(0, Math.max(0, ...ys), height - MARGIN.bottom, MARGIN.top, { tickCount: 4 });
  const yFormat = options.yFormat ?? shortNumber;
  const grid = y.ticks.map((t) =>
    el(
      "g",
      {},
      el("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: num(y(t)), y2: num(y(t)), stroke: "#8884" }),
      el(
        "text",
        { x: MARGIN.left - 6, y: num(y(t) + 4), "text-anchor": "end", "font-size": 10, fill: "currentColor" },
        yFormat(t),
      ),
    ),
  );
  const xTicks = x.ticks.map((t) =>
    el(
      "text",
      { x: num(x(t)), y: height - 8, "text-anchor": "middle", "font-size": 10, fill: "currentColor" },
      options.xFormat(t),
    ),
  );
  const lines = options.series.map((s) =>
    el("path", {
      d: pathOf(s.points, x, y),
      fill: "none",
      stroke: s.color,
      "stroke-width": 2,
      "stroke-linejoin": "round",
      "data-series": s.name,
      "data-points": s.points.filter((p) => Number.isFinite(p[1])).length,
    }),
  );
  const marks = markers.map((m) =>
    el(
      "line",
      {
        x1: num(x(m.x)),
        x2: num(x(m.x)),
        y1: MARGIN.top,
        y2: height - MARGIN.bottom,
        stroke: m.color,
        "stroke-width": 1.5,
        "stroke-dasharray": "3 3",
        class: "marker",
        "data-kind": m.kind,
      },
      el("title", {}, m.label),
    ),
  );
  return chartSvg(
    { id: options.id, title: options.title, kind: "line", width, height, desc: summary(options) },
    el("g", { class: "grid" }, grid),
    el("line", {
      x1: MARGIN.left,
      x2: MARGIN.left,
      y1: MARGIN.top,
      y2: height - MARGIN.bottom,
      stroke: "currentColor",
    }),
    el("g", { class: "x-ticks" }, xTicks),
    el("g", { class: "markers" }, marks),
    el("g", { class: "series" }, lines),
    legend(options.series, markers),
  );
}
