/**
 * A profile is what a bootstrap token buys: the role the CA writes into the certificate and
 * the certificate's lifetime. The CSR never chooses either.
 */
export interface CertificateProfile {
  readonly name: string;
  readonly role: string;
  readonly lifetimeMs: number;
}

export const ROLE_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

export const DEFAULT_PROFILES: Readonly<Record<string, { role: string; lifetime: string }>> = Object.freeze({
  device: { role: "device", lifetime: "90d" },
  service: { role: "service", lifetime: "90d" },
});
