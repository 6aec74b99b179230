/** RFC 5280 §5.3.1 CRLReason names and codes (7 is unused; removeFromCRL is for delta CRLs only). */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;

export type RevocationReason = keyof typeof REVOCATION_REASONS;

/** Reasons an operator may give when revoking a device (CA-level reasons are not theirs to claim). */
export const DEVICE_REVOCATION_REASONS: readonly RevocationReason[] = [
  "unspecified",
  "keyCompromise",
  "affiliationChanged",
  "superseded",
  "cessationOfOperation",
  "privilegeWithdrawn",
];

export function isDeviceRevocationReason(value: unknown): value is RevocationReason {
  return typeof value === "string" && (DEVICE_REVOCATION_REASONS as readonly string[]).includes(value);
}

export function reasonCode(reason: string): number {
  return (REVOCATION_REASONS as Record<string, number>)[reason] ?? REVOCATION_REASONS.unspecified;
}
