import { escapeXml } from "./svg.js";

/**
 * The frame of a self-contained HTML report (sim and bench): inline CSS, inline SVG, no script,
 * no request to anywhere, so the file opens the same offline, attached to an issue or years later.
 */
const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:1100px;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem;margin:.2rem 0 .4rem}h2{font-size:1.15rem;margin:1.6rem 0 .6rem}
.meta{color:#5d6778}.card{background:#fff;border:1px solid #dde1e8;border-radius:10px;padding:1rem 1.1rem;margin-bottom:1rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,460px),1fr));gap:1rem}
.grid>.card{margin:0}.card h2{margin-top:0}svg{display:block;width:100%;height:auto}
table{border-collapse:collapse;width:100%;font-size:.92rem;background:#fff}
th,td{text-align:left;padding:.4rem .7rem;border-bottom:1px solid #dde1e8}th{color:#5d6778;font-size:.82rem}
.ok{color:#1e7e52;font-weight:600}.fail{color:#b3261e;font-weight:600}code{font-family:ui-monospace,monospace}
`;

export function htmlPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeXml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>
`;
}

export function htmlTable(head: readonly string[], rows: readonly (readonly (string | number | null)[])[]): string {
  const cell = (value: string | number | null) => `<td>${value === null ? "—" : escapeXml(String(value))}</td>`;
  const header = head.map((h) => `<th scope="col">${escapeXml(h)}</th>`).join("");
  return `<table><thead><tr>${header}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map(cell).join("")}</tr>`).join("")}</tbody></table>`;
}

export { escapeXml };
