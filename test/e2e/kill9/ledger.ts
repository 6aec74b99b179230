import type { CrlFacts } from "./crl.js";

/**
 * What the clients were told, and when: the storm writes it, the invariant checks judge the registry the
 * restarted server shows against it. Only the server's answers count as facts; a request cut by a
 * `kill -9` is "cut" (it may or may not have taken effect), a refused connection is "unsent" (it did not).
 */
export type Outcome<Ok> =
  | ({ readonly kind: "ok" } & Ok)
  | { readonly kind: "refused"; readonly status: number; readonly code: string }
  | { readonly kind: "unsent" }
  | { readonly kind: "cut"; readonly error: string };

/** A bootstrap token the admin API acknowledged (201): its creation is a promise like any other. */
export interface Grant {
  readonly id: string;
  readonly token: string;
  readonly deviceId: string | null;
  readonly prefix: string | null;
  readonly uses: number;
}

export interface Attempt {
  readonly round: number;
  readonly via: "json" | "est";
  readonly tokenId: string;
  readonly deviceId: string;
  outcome: Outcome<{ readonly serial: string }>;
}

export interface Revocation {
  readonly round: number;
  readonly deviceId: string;
  readonly reason: string;
  outcome: Outcome<{ readonly serials: readonly string[]; readonly alreadyRevoked: boolean }>;
}

export type Acknowledged = Revocation & {
  readonly outcome: { readonly kind: "ok"; readonly serials: readonly string[]; readonly alreadyRevoked: boolean };
};

/** The CRL the server served right after a (re)start, before that round's storm. */
export interface ServedCrl extends CrlFacts {
  readonly round: number;
  /** Serials of the revocations acknowledged before this start: each must be listed. */
  readonly mustList: readonly string[];
}

export class Ledger {
  readonly grants: Grant[] = [];
  readonly attempts: Attempt[] = [];
  readonly revocations: Revocation[] = [];
  readonly crls: ServedCrl[] = [];
  /** Attempts that a later round already tried again. */
  readonly retried = new Set<Attempt>();
  kills = 0;

  grant(id: string): Grant {
    const found = this.grants.find((g) => g.id === id);
    if (found === undefined) throw new Error(`no grant ${id}`);
    return found;
  }

  issued(): Attempt[] {
    return this.attempts.filter((a) => a.outcome.kind === "ok");
  }

  acknowledgedRevocations(): Acknowledged[] {
    return this.revocations.filter((r): r is Acknowledged => r.outcome.kind === "ok");
  }

  /** How many of each outcome kind, for the test's log line. */
  tally(): { counts: Record<string, number>; refusals: Record<string, number> } {
    const count = (items: { outcome: { kind: string } }[], label: string) =>
      Object.fromEntries(
        ["ok", "refused", "unsent", "cut"].map((k) => [
          `${label}.${k}`,
          items.filter((i) => i.outcome.kind === k).length,
        ]),
      );
    const refusals: Record<string, number> = {};
    for (const a of this.attempts)
      if (a.outcome.kind === "refused") refusals[a.outcome.code] = (refusals[a.outcome.code] ?? 0) + 1;
    const counts = { kills: this.kills, ...count(this.attempts, "enroll"), ...count(this.revocations, "revoke") };
    return { counts, refusals };
  }
}
