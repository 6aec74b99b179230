import { X509Certificate } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { FleetgateError } from "../../domain/errors.js";
import { refusalPage, REFUSAL_PAGE_CSP } from "./admin-refusal-page.js";

/**
 * What makes the admin listener safe to open in a browser. A browser presents the operator's client
 * certificate to any page that asks, so another site's page could make the operator's browser send
 * requests here (CSRF). Three rules stop that, while the CLI (no Origin header) keeps working:
 *  - every state-changing request must be `content-type: application/json`: cross-origin, that is not
 *    a "simple" request, so the browser must ask first (a CORS preflight this server never grants);
 *  - a request whose `Origin` is not this listener's own origin is refused, whatever its method;
 *  - a browser request that says it is cross-site (`Sec-Fetch-Site`) is refused, except a plain
 *    top-level navigation (a link to the console from another page is harmless: it carries no intent).
 * The own origin is `https://` + a host the server certificate names (so a DNS-rebound name is not one).
 */

/** Every admin answer: no framing, no third-party anything, no inline script or style. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; "),
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The DNS names and IP addresses in the server certificate's subjectAltName, as URL hostnames. */
export function certificateHosts(certificatePem: string | Buffer): Set<string> {
  const san = new X509Certificate(certificatePem).subjectAltName ?? "";
  const hosts = san
    .split(/,\s*/)
    .map((entry) => /^(?:DNS|IP Address):(.+)$/.exec(entry.trim())?.[1])
    .filter((name): name is string => name !== undefined)
    .map((name) => (name.includes(":") ? `[${name}]` : name));
  return new Set(hosts.flatMap((host) => [hostnameOf(`https://${host}`)].filter((h): h is string => h !== null)));
}

function hostnameOf(url: string): string | null {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return null;
  }
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Why this request must be refused as cross-origin, or null. */
export function crossOriginProblem(request: FastifyRequest, hosts: ReadonlySet<string>): string | null {
  const host = header(request, "host") ?? "";
  const own = `https://${host}`.toLowerCase();
  const ownHostname = hostnameOf(own);
  const origin = header(request, "origin");
  if (origin !== undefined) {
    if (origin.toLowerCase() !== own) return `Origin ${origin} is not ${own}`;
    if (ownHostname === null || !hosts.has(ownHostname)) return `host ${host} is not named by the server certificate`;
  }
  const site = header(request, "sec-fetch-site");
  if (site === undefined || site === "same-origin" || site === "none") return null;
  const navigation = header(request, "sec-fetch-mode") === "navigate" && SAFE_METHODS.has(request.method);
  return navigation ? null : `Sec-Fetch-Site ${site} (${request.method} ${header(request, "sec-fetch-mode") ?? "?"})`;
}

function isJson(request: FastifyRequest): boolean {
  const type = (header(request, "content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  return type === "application/json";
}

function wantsHtml(request: FastifyRequest): boolean {
  return (header(request, "accept") ?? "").includes("text/html");
}

/** A refusal rendered for a person (HTML) when a browser navigated here; API clients keep the JSON. */
function htmlRefusal(request: FastifyRequest, reply: FastifyReply, payload: unknown): unknown {
  if (reply.statusCode < 400 || !wantsHtml(request) || typeof payload !== "string") return payload;
  let body: { code?: unknown; message?: unknown; detail?: unknown };
  try {
    body = JSON.parse(payload) as typeof body;
  } catch {
    return payload;
  }
  void reply.header("content-type", "text/html; charset=utf-8").header("content-security-policy", REFUSAL_PAGE_CSP);
  const text = (value: unknown) => (typeof value === "string" ? value : "");
  const detail = text(body.detail) ? ` (${text(body.detail)})` : "";
  return refusalPage(reply.statusCode, text(body.code) || "error", `${text(body.message)}${detail}`);
}

/** Installs the rules above on the admin listener (after operator authentication: refusals then carry detail). */
export function installBrowserSafety(app: FastifyInstance, serverCertificatePem: string | Buffer): void {
  const hosts = certificateHosts(serverCertificatePem);
  app.addHook("onRequest", async (request) => {
    const problem = crossOriginProblem(request, hosts);
    if (problem !== null) throw new FleetgateError("cross_origin_refused", problem);
    if (!SAFE_METHODS.has(request.method) && !isJson(request))
      throw new FleetgateError(
        "unsupported_media_type",
        `${request.method} needs content-type: application/json (got ${header(request, "content-type") ?? "none"})`,
      );
  });
  app.addHook("onSend", async (request, reply, payload) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS))
      if (!reply.hasHeader(name)) void reply.header(name, value);
    if (request.url.startsWith("/v1/")) void reply.header("cache-control", "no-store");
    return htmlRefusal(request, reply, payload);
  });
}

/** For answers that bypass the hooks (a hijacked event stream). */
export function securityHeaderList(): [string, string][] {
  return Object.entries(SECURITY_HEADERS);
}
