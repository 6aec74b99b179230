import { createHash } from "node:crypto";

/**
 * The page a browser gets instead of a JSON refusal: says what is wrong and how to fix it, shows no
 * data. Its one stylesheet is inline and allowed by its hash, so the page needs no other request
 * (which would be refused too).
 */
const STYLE = [
  "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}",
  "main{max-width:40rem;margin:12vh auto;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 2px 12px #0002}",
  "h1{font-size:1.5rem;margin:0 0 .5rem}code{background:#eef;padding:0 .3em;border-radius:4px}",
  ".code{color:#a3271c;font-weight:600}ol{padding-left:1.3rem}",
].join("");

export const REFUSAL_PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash("sha256").update(STYLE).digest("base64")}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};
const escape = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const CERTIFICATE_HELP = `<p>The fleetgate console is only for operators. Your browser must present an operator
certificate: make one with <code>fleetgate operator add NAME --p12</code> (or export an existing one with
<code>fleetgate operator export NAME --p12</code>), then:</p>
<ol><li>Chromium: Settings → Privacy and security → Security → Manage certificates → Your certificates → Import.</li>
<li>Firefox: Settings → Privacy &amp; Security → Certificates → View Certificates → Your Certificates → Import.</li>
<li>Restart the browser (it remembers which certificate it chose for a site) and open this page again.</li></ol>`;

const HEADINGS: Readonly<Record<string, string>> = {
  operator_certificate_required: "An operator certificate is required",
  operator_not_authorized: "This certificate is not an active operator certificate",
  cross_origin_refused: "Request from another site refused",
  not_found: "Not found",
};

export function refusalPage(status: number, code: string, message: string): string {
  const heading = HEADINGS[code] ?? "Request refused";
  const help = code.startsWith("operator_") ? CERTIFICATE_HELP : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escape(heading)} · fleetgate</title><style>${STYLE}</style></head>
<body><main><h1>${escape(heading)}</h1>
<p><span class="code">${status} ${escape(code)}</span>: ${escape(message)}</p>${help}</main></body></html>
`;
}
