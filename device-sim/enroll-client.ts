import { newKeyAndCsr } from "../src/adapters/shared/local-credential.js";
import { derToPem } from "../src/adapters/shared/pem.js";
import { x509 } from "../src/adapters/shared/x509.js";
import { certificateFacts, type DeviceCredential } from "./credential-store.js";
import type { HttpsClient, HttpsReply } from "./https-client.js";
import type { EnrollMethod } from "./types.js";

const EST = "/.well-known/est";

/**
 * A refused or failed enrollment. `refused`: the server said no (4xx other than 429), asking again
 * will not help; `transient`: busy or unreachable, worth a later retry (after `retryAfterMs`).
 */
export class EnrollError extends Error {
  override name = "EnrollError";
  constructor(
    message: string,
    readonly kind: "refused" | "transient",
    readonly retryAfterMs = 0,
  ) {
    super(message);
  }
}

/** First boot (simpleenroll or /v1/enroll) and renewal (simplereenroll over mTLS), as firmware does them. */
export class EnrollClient {
  constructor(
    private readonly baseUrl: string,
    private readonly https: HttpsClient,
  ) {}

  async enroll(deviceId: string, token: string, method: EnrollMethod): Promise<DeviceCredential> {
    const { keyPem, csrDer } = await newKeyAndCsr(deviceId);
    const certPem =
      method === "est" ? await this.estEnroll(deviceId, token, csrDer) : await this.jsonEnroll(token, csrDer);
    return credentialOf(deviceId, keyPem, certPem);
  }

  /** RFC 7030 §4.2.2: authenticated by the current certificate, with a new key. */
  async reenroll(current: DeviceCredential): Promise<DeviceCredential> {
    const { keyPem, csrDer } = await newKeyAndCsr(current.deviceId);
    const reply = await this.post(
      `${EST}/simplereenroll`,
      estBody(csrDer),
      { "content-type": "application/pkcs10" },
      current,
    );
    return credentialOf(current.deviceId, keyPem, certificateFromCertsOnly(expectStatus(reply, 200)));
  }

  private async estEnroll(deviceId: string, token: string, csrDer: Uint8Array): Promise<string> {
    const authorization = `Basic ${Buffer.from(`${deviceId}:${token}`).toString("base64")}`;
    const reply = await this.post(`${EST}/simpleenroll`, estBody(csrDer), {
      "content-type": "application/pkcs10",
      authorization,
    });
    return certificateFromCertsOnly(expectStatus(reply, 200));
  }

  private async jsonEnroll(token: string, csrDer: Uint8Array<ArrayBuffer>): Promise<string> {
    const body = JSON.stringify({ token, csr: derToPem(csrDer, "CERTIFICATE REQUEST") });
    const reply = await this.post("/v1/enroll", body, { "content-type": "application/json" });
    return (JSON.parse(expectStatus(reply, 201)) as { certificate: string }).certificate;
  }

  private async post(
    path: string,
    body: string,
    headers: Record<string, string>,
    client?: DeviceCredential,
  ): Promise<HttpsReply> {
    const call = { method: "POST" as const, headers, body, cert: client?.certPem, key: client?.keyPem };
    return this.https.send(this.baseUrl + path, call).catch((error: NodeJS.ErrnoException) => {
      throw new EnrollError(`${path}: ${error.code ?? error.message}`, "transient");
    });
  }
}

/** RFC 8951: base64 DER, wrapped at 64 characters. */
function estBody(der: Uint8Array): string {
  return (
    Buffer.from(der)
      .toString("base64")
      .replace(/(.{64})/g, "$1\n") + "\n"
  );
}

function expectStatus(reply: HttpsReply, expected: number): string {
  if (reply.status === expected) return reply.body;
  const code = errorCode(reply.body) ?? String(reply.status);
  const retryable = reply.status === 429 || reply.status >= 500;
  const retryAfterMs = Number(reply.headers["retry-after"] ?? 0) * 1000;
  throw new EnrollError(
    `HTTP ${reply.status} ${code}`,
    retryable ? "transient" : "refused",
    Number.isFinite(retryAfterMs) ? retryAfterMs : 0,
  );
}

function errorCode(body: string): string | null {
  try {
    return (JSON.parse(body) as { code?: string }).code ?? null;
  } catch {
    return null;
  }
}

/** RFC 7030 §4.1.3: base64 of a certs-only CMS SignedData; decoded from its DER bytes. */
function certificateFromCertsOnly(base64: string): string {
  const der = new Uint8Array(Buffer.from(base64.replace(/\s+/g, ""), "base64"));
  const certificate = new x509.X509Certificates(der)[0];
  if (!certificate) throw new EnrollError("certs-only response holds no certificate", "transient");
  return certificate.toString("pem");
}

function credentialOf(deviceId: string, keyPem: string, certPem: string): DeviceCredential {
  return { deviceId, keyPem, certPem, ...certificateFacts(certPem), obtainedAt: Date.now() };
}
