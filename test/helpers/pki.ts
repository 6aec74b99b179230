import { readFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { connect, type PeerCertificate } from "node:tls";
import { caFiles } from "../../src/adapters/ca/ca-manifest.js";
import { x509 } from "../../src/adapters/shared/x509.js";
import { runAsync } from "./certs.js";
import { opensslCsr, type TestFleetgate } from "./fleetgate.js";
import { httpsRequest } from "./https.js";

/** Helpers for tests of the PKI itself: issuing-CA rollover, server certificates, CRLs and OCSP per CA. */

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The PEM of an issuing CA's certificate as the data dir keeps it (pki/issuing/<id>.crt). */
export function caPem(fg: { readonly pki: TestFleetgate["pki"] }, id: string): string {
  return readFileSync(caFiles(fg.pki, id).cert, "utf8");
}

/** Which of the issuing CA certificates signed `pem` (by AKI), e.g. "fleetgate Issuing CA 2". */
export function issuerCn(pem: string): string {
  return new x509.X509Certificate(pem).issuerName.getField("CN")[0] ?? "";
}

export async function ssl(...args: string[]): Promise<{ code: number; out: string }> {
  const result = await runAsync("openssl", args);
  return { code: result.code, out: `${result.stdout}${result.stderr}` };
}

/** The certificate a TLS listener presents now, to a fresh connection. */
export function presentedCertificate(port: number, ca: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "localhost", port, ca, servername: "localhost" }, () => {
      const peer = socket.getPeerCertificate(true);
      socket.end();
      resolve(peer);
    });
    socket.once("error", reject);
  });
}

/** EST simplereenroll with the device's current certificate and a new key; the new certificate's PEM. */
export async function reenroll(
  fg: TestFleetgate,
  device: { readonly id: string; readonly certPem: string; readonly keyPem: string },
): Promise<{ status: number; certPem: string; keyPem: string; body: string }> {
  const { csrPem, keyPem } = opensslCsr(`/CN=${device.id}`);
  const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
  const res = await httpsRequest(`${fg.enrollUrl}/.well-known/est/simplereenroll`, {
    method: "POST",
    ca: fg.rootCaPem,
    headers: { "content-type": "application/pkcs10" },
    body: der.toString("base64"),
    cert: device.certPem,
    key: device.keyPem,
  });
  if (res.status !== 200) return { status: res.status, certPem: "", keyPem, body: res.body };
  const certificate = new x509.X509Certificates(
    new Uint8Array(Buffer.from(res.body.replace(/\s+/g, ""), "base64")),
  )[0]!;
  return { status: res.status, certPem: certificate.toString("pem"), keyPem, body: res.body };
}
