import { FleetgateError } from "../domain/errors.js";
import type { FactCounts, FactKind, Page, Registry, RegistryImport, RegistrySnapshot, StoredFacts } from "../ports.js";

/** The order facts are written in: a certificate's device before it; the rest refer to nothing stored. */
export const COPY_ORDER: readonly FactKind[] = ["devices", "certificates", "tokens", "operators", "audit", "crls"];

/** Facts per page: each page is read from the source and written to the destination as one batch. */
export const DEFAULT_COPY_PAGE = 1000;

export interface CopyOptions {
  readonly pageSize?: number;
  /** Called after each page with what was copied so far (progress output). */
  readonly onPage?: (kind: FactKind, copied: number, total: number) => void;
}

export interface CopyReport {
  readonly copied: FactCounts;
  readonly auditHead: { readonly seq: number; readonly hash: string };
}

/**
 * `fleetgate registry copy`: every fact of `source` into the empty registry `destination`, unchanged
 * (serials, token hashes, the audit chain and its head, each issuer's CRL number), read from one
 * consistent snapshot and written in one unit of work on the destination, so a copy that fails
 * anywhere — the destination not empty, a page refused, the result not matching — leaves nothing.
 */
export async function copyRegistry(
  source: Registry,
  destination: Registry,
  options: CopyOptions = {},
): Promise<CopyReport> {
  const pageSize = options.pageSize ?? DEFAULT_COPY_PAGE;
  return source.snapshot((snapshot) =>
    destination.bulkImport(async (target) => {
      await refuseUnlessEmpty(target);
      const expected = await snapshot.counts();
      for (const kind of COPY_ORDER) await copyKind(snapshot, target, kind, expected[kind], pageSize, options);
      return checkCopy(snapshot, target, expected);
    }),
  );
}

async function refuseUnlessEmpty(target: RegistryImport): Promise<void> {
  const counts = await target.counts();
  const held = COPY_ORDER.filter((kind) => counts[kind] > 0);
  const head = await target.auditHead();
  if (held.length === 0 && head.seq === 0) return;
  const what = held.map((kind) => `${counts[kind]} ${kind}`).join(", ") || `an audit head at entry ${head.seq}`;
  throw new FleetgateError("registry_not_empty", `the destination registry already holds ${what}`);
}

async function copyKind<K extends FactKind>(
  snapshot: RegistrySnapshot,
  target: RegistryImport,
  kind: K,
  total: number,
  pageSize: number,
  options: CopyOptions,
): Promise<void> {
  let copied = 0;
  let after: string | null = null;
  do {
    const page: Page<StoredFacts[K]> = await snapshot.page(kind, after, pageSize);
    await target.insert(kind, page.items);
    copied += page.items.length;
    options.onPage?.(kind, copied, total);
    after = page.next;
  } while (after !== null);
}

/** The destination now holds exactly what the snapshot held, and its audit head is the source's. */
async function checkCopy(
  snapshot: RegistrySnapshot,
  target: RegistryImport,
  expected: FactCounts,
): Promise<CopyReport> {
  const [copied, sourceHead, head] = await Promise.all([target.counts(), snapshot.auditHead(), target.auditHead()]);
  const wrong = COPY_ORDER.filter((kind) => copied[kind] !== expected[kind]);
  if (wrong.length > 0 || head.seq !== sourceHead.seq || head.hash !== sourceHead.hash) {
    const counts = wrong.map((k) => `${k} ${copied[k]} of ${expected[k]}`).join(", ");
    throw new Error(`the copy does not match its source (${counts || `audit head ${head.seq} ≠ ${sourceHead.seq}`})`);
  }
  return { copied, auditHead: head };
}
