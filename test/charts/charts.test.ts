import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { barChart, bins } from "../../src/charts/bar-chart.js";
import { lineChart } from "../../src/charts/line-chart.js";
import { linearScale } from "../../src/charts/scale.js";
import { el, renderSvg } from "../../src/charts/svg.js";

describe("charts", () => {
  it("markup escapes every text and attribute (labels come from device ids and reasons)", () => {
    fc.assert(
      fc.property(fc.string(), (label) => {
        const markup = renderSvg(el("svg", { "data-label": label }, el("title", {}, label)));
        const inner = markup.slice(markup.indexOf(">") + 1, markup.lastIndexOf("</svg>"));
        expect(inner.replace(/<\/?title>/g, "")).not.toMatch(/[<>]/);
        expect(markup.match(/"/g)?.length).toBe(4); // xmlns and data-label values only
      }),
    );
  });

  it("scales pick round ticks covering the data", () => {
    const scale = linearScale(0, 87, 0, 100);
    expect(scale.ticks).toEqual([0, 20, 40, 60, 80, 100]);
    expect(scale(0)).toBe(0);
    expect(scale(100)).toBe(100);
    expect(linearScale(5, 5, 0, 10).domain[1]).toBeGreaterThan(5); // no division by zero
  });

  it("bins count every value once", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e4, noNaN: true }), { minLength: 1 }), (values) => {
        expect(bins(values, 10).reduce((n, b) => n + b.count, 0)).toBe(values.length);
      }),
    );
    expect(bins([], 10)).toEqual([]);
  });

  it("a line chart breaks its path at missing data and names its series and markers", () => {
    const svg = renderSvg(
      lineChart({
        id: "c",
        title: "t",
        series: [
          {
            name: "s",
            color: "#000",
            points: [
              [0, 1],
              [1, NaN],
              [2, 3],
            ],
          },
        ],
        markers: [{ x: 1, label: "kick <dev>", color: "#f00", kind: "kick" }],
        xFormat: String,
        yLabel: "n",
      }),
    );
    expect(svg).toMatch(/d="M[^"]*M[^"]*"/); // two sub-paths
    expect(svg).toContain('data-points="2"');
    expect(svg).toContain("kick &lt;dev&gt;");
    expect(svg).toContain('aria-labelledby="c-title c-desc"');
  });

  it("a bar chart says 'not measured' instead of drawing a zero", () => {
    const svg = renderSvg(
      barChart({ id: "b", title: "t", unit: "ms", bars: [{ label: "x", value: null, color: "#000" }] }),
    );
    expect(svg).toContain("not measured");
    expect(svg).toContain('data-value=""');
  });
});
