import { FleetgateError } from "./errors.js";

/**
 * The issuing CAs of one fleetgate and how they roll over. Exactly one is `active`: it signs every new
 * certificate. After a rollover the previous one is `retiring`: still trusted by every listener, still
 * signing its own CRL and OCSP answers, signing nothing else, until the last certificate it issued
 * expires and an operator retires it. A `retired` one is no longer trusted or loaded; its id is never
 * used again (it is in the CRL distribution points of what it issued).
 */
export type CaState = "active" | "retiring" | "retired";

/** `ca-1` is the CA `init` makes (and the one of a data dir from before rollover existed). */
export const CA_ID_PATTERN = /^ca-[1-9][0-9]{0,8}$/;
export const FIRST_CA_ID = "ca-1";

export interface CaFacts {
  readonly id: string;
  readonly state: CaState;
}

/** The next free id: one more than the highest ever used (retired and pending ones included). */
export function nextCaId(used: Iterable<string>): string {
  let highest = 0;
  for (const id of used) {
    const match = /^ca-(\d+)$/.exec(id);
    if (match) highest = Math.max(highest, Number(match[1]));
  }
  return `ca-${highest + 1}`;
}

/** The one active CA; a set without exactly one is corrupt (nothing could sign, or two would). */
export function activeCa<T extends CaFacts>(cas: readonly T[]): T {
  const active = cas.filter((ca) => ca.state === "active");
  if (active.length !== 1) throw new Error(`expected exactly one active issuing CA, found ${active.length}`);
  return active[0]!;
}

const generation = (id: string): number => Number(/^ca-(\d+)$/.exec(id)?.[1] ?? 0);

/** The CAs every listener trusts and whose CRL and OCSP are served: the active one first, then newest first. */
export function trustedCas<T extends CaFacts>(cas: readonly T[]): T[] {
  const active = activeCa(cas);
  const retiring = cas.filter((ca) => ca.state === "retiring").sort((a, b) => generation(b.id) - generation(a.id));
  return [active, ...retiring];
}

/** A rollover: `added` becomes active, the CA that was active starts retiring. */
export function withActivated<T extends CaFacts>(cas: readonly T[], added: T): T[] {
  if (!CA_ID_PATTERN.test(added.id)) throw new Error(`not an issuing CA id: ${JSON.stringify(added.id)}`);
  if (cas.some((ca) => ca.id === added.id)) throw new Error(`issuing CA ${added.id} exists already`);
  const previous = activeCa(cas);
  return [...cas.map((ca) => (ca === previous ? { ...ca, state: "retiring" as const } : ca)), added];
}

/** What a CA still vouches for when an operator asks to retire it. */
export interface CaUsage {
  readonly validCertificates: number;
  readonly activeOperators: number;
  readonly lastNotAfter: number | null;
  /** The listeners' own certificate was issued by it. */
  readonly signsServerCertificate: boolean;
}

/**
 * May this CA be retired? Never the active one (nothing else could sign), never while an active operator
 * holds a certificate from it (retiring it would lock that operator out of the admin API, perhaps the
 * last one). Otherwise only once nothing it issued is still valid, unless forced: then what it issued
 * and is still valid stops being trusted (the use case revokes it).
 */
export function assertRetirable(ca: CaFacts | undefined, id: string, usage: CaUsage, force: boolean): CaFacts {
  if (ca === undefined) throw new FleetgateError("not_found", `no issuing CA ${id}`);
  if (ca.state === "active")
    throw new FleetgateError("ca_in_use", `${id} is the active issuing CA: rotate to a new one first`);
  if (usage.activeOperators > 0)
    throw new FleetgateError(
      "ca_in_use",
      `${usage.activeOperators} active operator(s) hold a certificate from ${id}: add new operator credentials ` +
        "(fleetgate operator add) and revoke the old ones first",
    );
  if (force) return ca;
  if (usage.signsServerCertificate)
    throw new FleetgateError("ca_in_use", `the server certificate was issued by ${id}: fleetgate server-cert renew`);
  if (usage.validCertificates > 0) {
    const until =
      usage.lastNotAfter === null ? "" : ` (the last expires ${new Date(usage.lastNotAfter).toISOString()})`;
    throw new FleetgateError(
      "ca_in_use",
      `${usage.validCertificates} certificate(s) issued by ${id} are still valid${until}; --force revokes them`,
    );
  }
  return ca;
}
