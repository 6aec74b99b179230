/**
 * When firmware renews: at `fraction` (two thirds) of the lifetime it was given, measured from when it
 * received the certificate (the CA backdates notBefore), moved by up to ±jitter/2 of the lifetime at
 * random. A fleet that enrolled in one burst (a storm, a factory batch) would otherwise come back all
 * in the same second, every lifetime, for ever; with 10% jitter a 2-minute certificate's renewals spread
 * over 12 s and still leave a third of the lifetime (minus 6 s) for retries.
 */
export function renewalTime(
  obtainedAt: number,
  notAfter: number,
  fraction: number,
  jitter: number,
  random: () => number = Math.random,
): number {
  const lifetime = Math.max(0, notAfter - obtainedAt);
  const spread = Math.min(Math.max(jitter, 0), 2 * Math.min(fraction, 1 - fraction));
  return obtainedAt + lifetime * (fraction + (random() - 0.5) * spread);
}
