/**
 * A tiny SVG element tree, built by the chart functions and rendered either to markup (the
 * self-contained HTML reports) or to Preact elements (the console). Pure data: no DOM, no Node.
 * Charts use presentation attributes only, never `style`, so the console's Content-Security-Policy
 * (no inline styles) holds.
 */
export type SvgAttrs = Readonly<Record<string, string | number>>;

export interface SvgNode {
  readonly tag: string;
  readonly attrs: SvgAttrs;
  readonly children: readonly SvgChild[];
}

export type SvgChild = SvgNode | string;

export function el(tag: string, attrs: SvgAttrs = {}, ...children: (SvgChild | readonly SvgChild[] | null)[]): SvgNode {
  const flat: SvgChild[] = [];
  for (const child of children) {
    if (child === null) continue;
    if (typeof child === "string" || !Array.isArray(child)) flat.push(child as SvgChild);
    else flat.push(...(child as readonly SvgChild[]));
  }
  return { tag, attrs, children: flat };
}

/** What every chart's root needs: its id, its visible title, and a text description of its data. */
export interface ChartFrame {
  readonly id: string;
  readonly title: string;
  readonly kind: string;
  readonly width: number;
  readonly height: number;
  readonly desc: string;
}

/**
 * A chart's root element: an image role labelled by its title and described by a text summary of the
 * data (screen readers read both; the figures stay readable without the picture).
 */
export function chartSvg(frame: ChartFrame, ...children: (SvgChild | readonly SvgChild[] | null)[]): SvgNode {
  return el(
    "svg",
    {
      viewBox: `0 0 ${frame.width} ${frame.height}`,
      role: "img",
      "aria-labelledby": `${frame.id}-title ${frame.id}-desc`,
      class: "chart",
      "data-chart": frame.kind,
      id: frame.id,
    },
    el("title", { id: `${frame.id}-title` }, frame.title),
    el("desc", { id: `${frame.id}-desc` }, frame.desc),
    ...children,
  );
}

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Markup for inline SVG in HTML; every attribute value and text node escaped. */
export function renderSvg(node: SvgChild): string {
  if (typeof node === "string") return escapeXml(node);
  const attrs = Object.entries(node.attrs)
    .map(([name, value]) => ` ${name}="${escapeXml(String(value))}"`)
    .join("");
  const tag = node.tag === "svg" && !("xmlns" in node.attrs) ? `svg xmlns="http://www.w3.org/2000/svg"` : node.tag;
  if (node.children.length === 0) return `<${tag}${attrs}/>`;
  return `<${tag}${attrs}>${node.children.map(renderSvg).join("")}</${node.tag}>`;
}

/** A number with at most `digits` decimals and no trailing zeros (coordinates, labels). */
export function num(value: number, digits = 1): string {
  return Number.isFinite(value) ? String(Number(value.toFixed(digits))) : "0";
}
