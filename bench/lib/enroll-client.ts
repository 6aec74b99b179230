import type { SecureContext } from "node:tls";
import type { DeviceCsr } from "./csr.js";
import { httpsOnce, type OnceRequest, type OnceResponse } from "./https-once.js";

export type EnrollMethod = "json" | "est";

export interface EnrollTarget {
  readonly host: string;
  readonly port: number;
  /** Trusts the CA bundle; see OnceRequest.secureContext. */
  readonly secureContext: SecureContext;
  readonly timeoutMs: number;
}

export interface EnrollOutcome {
  readonly deviceId: string;
  readonly method: EnrollMethod;
  readonly ok: boolean;
  /** Connect + TLS handshake + request + response; also set for refused requests, NaN on network errors. */
  readonly latencyMs: number;
  readonly error?: string;
  /** The response body (JSON for /v1/enroll, base64 PKCS#7 for EST) when ok. */
  readonly body?: string;
}

/** RFC 2045 lines of 64 characters, as an EST client sends (RFC 8951 allows either). */
function wrap64(base64: string): string {
  return base64.replace(/(.{64})/g, "$1\n").replace(/\n?$/, "\n");
}

export function enrollRequest(
  target: EnrollTarget,
  device: DeviceCsr,
  method: EnrollMethod,
  token: string,
): OnceRequest {
  const common = {
    host: target.host,
    port: target.port,
    method: "POST",
    secureContext: target.secureContext,
    timeoutMs: target.timeoutMs,
  };
  if (method === "json") {
    const body = JSON.stringify({ token, csr: device.pem });
    return {
      ...common,
      path: "/v1/enroll",
      headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) },
      body,
    };
  }
  const body = wrap64(device.derBase64);
  const authorization = "Basic " + Buffer.from(`${device.deviceId}:${token}`).toString("base64");
  const headers = {
    "content-type": "application/pkcs10",
    authorization,
    "content-length": String(Buffer.byteLength(body)),
  };
  return { ...common, path: "/.well-known/est/simpleenroll", headers, body };
}

/** Why a response is not a successful enrollment of `deviceId`, or null when it is one. */
export function responseProblem(response: OnceResponse, deviceId: string, method: EnrollMethod): string | null {
  const detail = () => `HTTP ${response.status}: ${response.body.slice(0, 160)}`;
  if (method === "json") {
    if (response.status !== 201) return detail();
    const parsed = JSON.parse(response.body) as { deviceId?: unknown; certificate?: unknown };
    if (parsed.deviceId !== deviceId) return `deviceId ${String(parsed.deviceId)} instead of ${deviceId}`;
    return typeof parsed.certificate === "string" && parsed.certificate.includes("BEGIN CERTIFICATE")
      ? null
      : "no certificate in the body";
  }
  if (response.status !== 200) return detail();
  if (!response.contentType.startsWith("application/pkcs7-mime")) return `content-type ${response.contentType}`;
  return /^[A-Za-z0-9+/=\r\n]{100,}$/.test(response.body) ? null : "body is not a base64 PKCS#7 message";
}

/** One enrollment over a fresh TLS connection; never rejects, failures are outcomes. */
export async function enroll(
  target: EnrollTarget,
  device: DeviceCsr,
  method: EnrollMethod,
  token: string,
): Promise<EnrollOutcome> {
  const base = { deviceId: device.deviceId, method };
  try {
    const response = await httpsOnce(enrollRequest(target, device, method, token));
    const problem = response.sessionReused
      ? "TLS session was resumed"
      : responseProblem(response, device.deviceId, method);
    if (problem) return { ...base, ok: false, latencyMs: response.latencyMs, error: problem };
    return { ...base, ok: true, latencyMs: response.latencyMs, body: response.body };
  } catch (error) {
    return { ...base, ok: false, latencyMs: Number.NaN, error: (error as Error).message };
  }
}
