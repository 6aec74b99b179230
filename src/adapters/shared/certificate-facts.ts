import type { CertificateFacts } from "../../domain/identity.js";
import { normalizeSerial } from "../../domain/identity.js";
import { certificateRoles } from "./subject.js";
import { x509 } from "./x509.js";

/** A verified peer certificate (DER, as TLS hands it over) → what identity rules need. */
export function certificateFacts(der: Uint8Array<ArrayBuffer>): CertificateFacts {
  const certificate = new x509.X509Certificate(der);
  return {
    serial: normalizeSerial(certificate.serialNumber),
    commonNames: certificate.subjectName.getField("CN"),
    roles: certificateRoles(certificate),
  };
}
