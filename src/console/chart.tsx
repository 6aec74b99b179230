import { h, type VNode } from "preact";
import type { SvgChild } from "../charts/svg.js";

/** The shared chart trees (src/charts, also used by the HTML reports) as Preact elements. */
export function toPreact(node: SvgChild, key?: number): VNode | string {
  if (typeof node === "string") return node;
  return h(node.tag, { ...node.attrs, key }, ...node.children.map((child, i) => toPreact(child, i)));
}

export function Chart({ node }: { node: SvgChild }) {
  return <div class="chart-box">{toPreact(node)}</div>;
}
