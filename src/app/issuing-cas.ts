import { assertRetirable } from "../domain/issuing-cas.js";
import type {
  Clock,
  EventBus,
  IssuerUsage,
  IssuingCaInfo,
  PkiControl,
  PkiReload,
  Registry,
  RootCertificateInfo,
  ServerCertificateInfo,
} from "../ports.js";
import { appendAudit, recordAudit } from "./audit-log.js";

export interface CaDeps {
  readonly registry: Registry;
  readonly pki: PkiControl;
  readonly clock: Clock;
  /** Where the other nodes of a cluster learn that this one reloaded (they reload their own pki/ too). */
  readonly announce?: { readonly bus: EventBus; readonly nodeId: string };
}

export interface IssuingCaView extends IssuingCaInfo {
  readonly usage: IssuerUsage;
}

export interface PkiView {
  readonly issuingCas: readonly IssuingCaView[];
  readonly serverCertificate: ServerCertificateInfo;
  readonly root: RootCertificateInfo;
}

/** Every issuing CA with what it still vouches for, and the server certificate (`fleetgate ca list`). */
export async function describePki(deps: CaDeps): Promise<PkiView> {
  const now = deps.clock.now();
  const issuingCas = await Promise.all(
    deps.pki.issuingCas().map(async (ca) => ({ ...ca, usage: await deps.registry.issuerUsage(ca.id, now) })),
  );
  return { issuingCas, serverCertificate: deps.pki.serverCertificate(), root: deps.pki.rootCertificate() };
}

/**
 * Reads pki/ again (after `fleetgate ca activate` or `server-cert renew`) and swaps the new CA set and
 * server certificate in for new connections; audited with what changed. A PKI that does not load changes
 * nothing (pki_invalid).
 */
export async function reloadPki(deps: CaDeps, actor: string): Promise<PkiReload> {
  const result = await deps.pki.reload();
  const details = {
    activeCa: result.activeCa,
    trusted: result.trusted,
    added: result.added,
    removed: result.removed,
    serverCertificate: result.serverCertificateChanged ? result.serverCertificate.serial : null,
  };
  const at = deps.clock.now();
  await recordAudit(deps.registry, { actor, action: "pki.reloaded", subject: null, details }, at);
  announced(deps, result, at);
  return result;
}

export interface RetireResult {
  readonly id: string;
  /** Certificates --force revoked (cessationOfOperation): valid, but from a CA nothing trusts any more. */
  readonly revoked: number;
  readonly pki: PkiReload;
}

/**
 * `fleetgate ca retire`: once the last certificate a retiring CA issued has expired, it stops being
 * trusted and signing its CRL (src/domain/issuing-cas.ts says when that is allowed). Durable first: with
 * --force, the certificates it issued that are still valid are revoked, and the retirement is audited, in
 * one unit of work; then the CA leaves pki/issuing-cas.json and every listener's trust list. Revoked, they
 * are refused even by a listener that still sees the CA (a resumed TLS session, a client sending the
 * retired CA's certificate as its chain).
 */
export async function retireIssuingCa(deps: CaDeps, id: string, force: boolean, actor: string): Promise<RetireResult> {
  const now = deps.clock.now();
  const ca = deps.pki.issuingCas().find((candidate) => candidate.id === id);
  const usage = await deps.registry.issuerUsage(id, now);
  const signsServerCertificate = deps.pki.serverCertificate().issuer === id;
  assertRetirable(ca, id, { ...usage, signsServerCertificate }, force);
  const revoked = await deps.registry.transact(async (tx) => {
    const doomed = force ? await tx.unrevokedValidCertificatesOf(id, now) : [];
    for (const certificate of doomed)
      await tx.updateCertificate(certificate.serial, {
        status: "revoked",
        revokedAt: now,
        revocationReason: "cessationOfOperation",
      });
    const details = { force, revokedCertificates: doomed.length, validCertificates: usage.validCertificates };
    await appendAudit(tx, { actor, action: "ca.retired", subject: id, details }, now);
    return doomed.length;
  });
  const pki = await deps.pki.retire(id);
  announced(deps, pki, deps.clock.now());
  return { id, revoked, pki };
}

function announced(deps: CaDeps, result: PkiReload, at: number): void {
  if (deps.announce === undefined) return;
  const { bus, nodeId } = deps.announce;
  bus.publish({ type: "pki.reloaded", node: nodeId, activeCa: result.activeCa, at });
}
