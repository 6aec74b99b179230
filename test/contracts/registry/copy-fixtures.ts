import { recordAudit } from "../../../src/app/audit-log.js";
import { COPY_ORDER } from "../../../src/app/copy-registry.js";
import type { FactKind, Registry, RegistrySnapshot, StoredFacts } from "../../../src/ports.js";
import { certificate, DAY, device, NOW, operator, seed, token } from "./fixtures.js";

type Everything = { [K in FactKind]: StoredFacts[K][] };

/** Every fact of one kind, read page by page (small pages: the cursors are exercised). */
async function allOf<K extends FactKind>(snapshot: RegistrySnapshot, kind: K): Promise<StoredFacts[K][]> {
  const facts: StoredFacts[K][] = [];
  let after: string | null = null;
  do {
    const page: { items: readonly StoredFacts[K][]; next: string | null } = await snapshot.page(kind, after, 2);
    facts.push(...page.items);
    after = page.next;
  } while (after !== null);
  return facts;
}

/** Everything a registry stores, from one snapshot, with its audit head. */
export async function everything(registry: Registry): Promise<Everything & { head: unknown; counts: unknown }> {
  return registry.snapshot(async (snapshot) => {
    const facts = {} as Record<FactKind, unknown[]>;
    for (const kind of COPY_ORDER) facts[kind] = await allOf(snapshot, kind);
    return { ...(facts as Everything), head: await snapshot.auditHead(), counts: await snapshot.counts() };
  });
}

/**
 * One of every kind of fact in every state it can be in: revoked devices with reasons and last-seen
 * times, active, superseded and revoked certificates of two issuers, device, group, spent, expired and
 * revoked tokens, operators, an audit chain with awkward details, two issuers' CRL states.
 */
export async function seedEverything(registry: Registry): Promise<void> {
  const revoked = { status: "revoked", revokedAt: NOW + 5, revocationReason: "keyCompromise" } as const;
  await seed(registry, {
    devices: [
      device("dev-a", { lastSeenAt: NOW + 9 }),
      device("dev-b", { ...revoked, role: "service", profile: "service" }),
      device("dev-c"),
      device("ünï-d", { createdAt: NOW - DAY }),
    ],
    certificates: [
      certificate("dev-a", { status: "superseded", revokedAt: NOW + 1, revocationReason: "superseded" }),
      certificate("dev-a"),
      certificate("dev-b", { ...revoked, status: "revoked", issuer: "ca-2" }),
      certificate("dev-c", { issuer: "ca-2", notAfter: NOW + 7 * DAY }),
    ],
    tokens: [
      token({ deviceId: "dev-a", usesLeft: 0 }),
      token({ deviceId: "dev-z" }),
      token({ deviceId: null, prefix: "line-", usesTotal: 50, usesLeft: 48 }),
      token({ deviceId: "dev-y", revokedAt: NOW + 2 }),
      token({ deviceId: "dev-x", expiresAt: NOW - 1 }),
    ],
    operators: [operator("admin"), operator("bob", { status: "revoked", revokedAt: NOW + 3, issuer: "ca-2" })],
  });
  const details = { serials: ["0a", "0b"], text: 'ünï ✓ \u0000 "q" \\', nested: { n: null, big: 2 ** 53 - 1 } };
  for (let i = 0; i < 7; i++)
    await recordAudit(
      registry,
      { actor: "operator:admin", action: `act.${i}`, subject: `s-${i % 3}`, details },
      NOW + i,
    );
  await registry.transact(async (tx) => {
    await tx.saveCrl({ issuer: "ca-1", number: 41, thisUpdate: NOW, der: new Uint8Array([0x30, 1, 2]) });
    await tx.saveCrl({ issuer: "ca-2", number: 7, thisUpdate: NOW - 1, der: new Uint8Array([0x30, 9]) });
  });
}
