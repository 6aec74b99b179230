/** Status vocabularies shared by the domain rules and the Registry port (src/ports.ts re-exports them). */
export type DeviceStatus = "active" | "revoked";
export type CertificateStatus = "active" | "superseded" | "revoked";
export type OperatorStatus = "active" | "revoked";
