/**
 * The console is a client of the admin API, like the CLI: same-origin fetches (the browser presents
 * the operator certificate), JSON in and out. Every POST carries `content-type: application/json`
 * (the admin listener refuses any other: that is its CSRF rule).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ApiAnswer<T> {
  readonly data: T;
  readonly headers: Headers;
}

async function refusal(response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { code?: string; message?: string; detail?: string };
    const code = body.code ?? String(response.status);
    return new ApiError(response.status, code, `${code}: ${body.detail ?? body.message ?? text}`);
  } catch {
    return new ApiError(response.status, String(response.status), `HTTP ${response.status}: ${text.slice(0, 200)}`);
  }
}

export async function request(method: "GET" | "POST", path: string, body?: unknown): Promise<Response> {
  const init: RequestInit =
    method === "POST"
      ? { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body ?? {}) }
      : { method };
  const response = await fetch(path, { ...init, credentials: "same-origin", cache: "no-store" });
  if (!response.ok) throw await refusal(response);
  return response;
}

export async function get<T>(path: string): Promise<ApiAnswer<T>> {
  const response = await request("GET", path);
  return { data: (await response.json()) as T, headers: response.headers };
}

export async function post<T>(path: string, body: unknown = {}): Promise<T> {
  return (await (await request("POST", path, body)).json()) as T;
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const entries = Object.entries(params).filter(
    (e): e is [string, string | number] => e[1] !== undefined && e[1] !== null && e[1] !== "",
  );
  return entries.length === 0 ? "" : `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString()}`;
}

export const enc = encodeURIComponent;

// ── Shapes the admin API answers with (the OpenAPI document at /v1/openapi.json has them all) ──

export interface LiveSession {
  readonly deviceId: string;
  readonly serial: string;
  readonly address: string | null;
  readonly connectedAt: string;
  readonly node: string;
}

export interface Device {
  readonly id: string;
  readonly role: string;
  readonly profile: string;
  readonly status: "active" | "revoked";
  readonly createdAt: string;
  readonly revokedAt: string | null;
  readonly revocationReason: string | null;
  readonly lastSeenAt: string | null;
  readonly certificateNotAfter: string | null;
  readonly online: boolean;
  readonly sessions: readonly LiveSession[];
}

export interface Certificate {
  readonly serial: string;
  readonly status: "active" | "revoked" | "superseded";
  readonly notBefore: string;
  readonly notAfter: string;
  readonly issuedAt: string;
  readonly revokedAt: string | null;
  readonly revocationReason: string | null;
}

export interface DeviceDetail extends Device {
  readonly certificates: readonly Certificate[];
}

export interface AuditEntry {
  readonly seq: number;
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly subject: string | null;
  readonly details: Record<string, unknown>;
  readonly hash: string;
}

export interface Token {
  readonly id: string;
  readonly deviceId: string | null;
  readonly prefix: string | null;
  readonly profile: string;
  readonly usesTotal: number;
  readonly usesLeft: number;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly revokedAt: string | null;
  readonly state: "active" | "expired" | "used" | "revoked";
}

export interface Operator {
  readonly serial: string;
  readonly name: string;
  readonly status: "active" | "revoked";
  readonly createdAt: string;
  readonly notAfter: string;
  readonly revokedAt: string | null;
}

export interface Overview {
  readonly at: string;
  readonly devices: {
    readonly total: number;
    readonly active: number;
    readonly revoked: number;
    readonly online: number;
  };
  readonly certificatesExpiring: { readonly within7d: number; readonly within30d: number };
  readonly activity: {
    readonly stepMs: number;
    readonly windowMs: number;
    readonly points: readonly {
      readonly at: string;
      readonly rates: Record<"enrollments" | "messagesIn" | "messagesOut", number>;
    }[];
  };
  readonly refusals: Record<
    "handshakeFailures" | "mqttRefusals" | "mqttDenials" | "httpRefusals",
    Record<string, number>
  >;
}

export interface Profile {
  readonly name: string;
  readonly role: string;
  readonly lifetimeMs: number;
}
