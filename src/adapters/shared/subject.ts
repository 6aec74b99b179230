import { x509 } from "./x509.js";

/**
 * The subject attribute that carries the role the CA chose (never the CSR), and its X.520 type. Shared
 * by the CA that writes it and by every listener that reads identities out of client certificates.
 */
export const ROLE_ATTRIBUTE = "OU";
export const SUBJECT_OID = { commonName: "2.5.4.3", role: "2.5.4.11", organization: "2.5.4.10" } as const;

export function certificateRoles(certificate: x509.X509Certificate): string[] {
  return certificate.subjectName.getField(ROLE_ATTRIBUTE);
}
