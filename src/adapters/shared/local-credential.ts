import { derToPem } from "./pem.js";
import { subtle, x509 } from "./x509.js";

/** A fresh P-256 key and a CSR for `commonName`, made where the key will live (the CLI's host). */
export async function newKeyAndCsr(commonName: string): Promise<{ keyPem: string; csrDer: Uint8Array<ArrayBuffer> }> {
  const keys = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [commonName] }],
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  const keyPem = derToPem(new Uint8Array(await subtle.exportKey("pkcs8", keys.privateKey)), "PRIVATE KEY");
  return { keyPem, csrDer: new Uint8Array(csr.rawData) };
}
