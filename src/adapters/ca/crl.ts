import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { reasonCode, REVOCATION_REASONS } from "../../domain/revocation-reason.js";
import { crlListingFrom, listedOnCrl } from "../../domain/certificate-standing.js";
import { FIRST_CA_ID } from "../../domain/issuing-cas.js";
import type { Clock, CrlRecord, Registry, RevokedCertificate } from "../../ports.js";
import type { IssuingCa } from "./issuing-ca.js";
import {
  derOf,
  pkijsSignatureAlgorithm,
  pkixTime,
  serialInteger,
  signatureBits,
  signingSchedule,
  type SigningSchedule,
} from "./pkix-values.js";

const DEFAULT_VALIDITY_MS = 24 * 3_600_000;
const OID = {
  authorityKeyIdentifier: "2.5.29.35", // RFC 5280 §5.2.1
  crlNumber: "2.5.29.20", // §5.2.3
  reasonCode: "2.5.29.21", // §5.3.1
} as const;
/** How long renewals wait for the CRL that lists their superseded certificates (many renewals, one CRL). */
const DEFAULT_COALESCE_MS = 30_000;

export type CrlRegistry = Pick<Registry, "transact" | "currentCrl">;

export interface CrlRefreshInfo {
  readonly reason: string;
  readonly issuer: string;
  readonly crlNumber: number;
  readonly entries: number;
}

export interface CrlPublisherOptions {
  /**
   * The issuing CA's id (`ca-1`…): the key of its crl_state row (§5.2.3: one number sequence per CRL
   * issuer) and the issuer recorded with the certificates it lists. Default ca-1.
   */
  readonly issuerId?: string;
  /** nextUpdate - thisUpdate (RFC 5280 §5.1.2.5). Default 24 h; re-signed at half of it. */
  readonly validityMs?: number;
  /** refreshSoon() signs at most this long after it is first asked (default 30 s). */
  readonly coalesceMs?: number;
  readonly clock?: Clock;
  /** Told about every newly signed CRL (for a log line). */
  readonly onRefresh?: (info: CrlRefreshInfo) => void;
  /** Told about a failed timer re-sign (the previous CRL stays published). */
  readonly onError?: (error: unknown) => void;
}

function extension(extnID: string, value: asn1js.BaseBlock): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical: false, extnValue: value.toBER() });
}

/** RFC 5280 §5.3.1: the reasonCode entry extension SHOULD be absent rather than unspecified (0). */
function entryFor(revoked: RevokedCertificate): pkijs.RevokedCertificate {
  const entry = new pkijs.RevokedCertificate({
    userCertificate: serialInteger(revoked.serial),
    revocationDate: pkixTime(revoked.revokedAt),
  });
  const code = reasonCode(revoked.reason);
  if (code !== REVOCATION_REASONS.unspecified) {
    // CRLReason ::= ENUMERATED; crlEntryExtensions is SIZE (1..MAX), so only present with an entry.
    entry.crlEntryExtensions = new pkijs.Extensions({
      extensions: [extension(OID.reasonCode, new asn1js.Enumerated({ value: code }))],
    });
  }
  return entry;
}

function crlExtensions(issuer: IssuingCa, crlNumber: number): pkijs.Extensions {
  // §5.2.1: AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }
  const aki = new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: issuer.keyId }) });
  return new pkijs.Extensions({
    extensions: [
      extension(OID.authorityKeyIdentifier, aki.toSchema()),
      extension(OID.crlNumber, new asn1js.Integer({ value: crlNumber })), // §5.2.3 CRLNumber ::= INTEGER
    ],
  });
}

/** Builds and signs one v2 CRL (RFC 5280 §5.1) for the issuing CA, through its IssuerKey; returns its DER. */
export async function signCrl(
  issuer: IssuingCa,
  crlNumber: number,
  now: number,
  validityMs: number,
  revoked: readonly RevokedCertificate[],
): Promise<Uint8Array<ArrayBuffer>> {
  const algorithm = pkijsSignatureAlgorithm(issuer.key);
  const crl = new pkijs.CertificateRevocationList({
    version: 1, // §5.1.2.1: v2, required because extensions are present
    issuer: issuer.pkijsCertificate.subject, // §5.1.2.3: exactly the issuing CA's subject
    thisUpdate: pkixTime(now), // §5.1.2.4
    nextUpdate: pkixTime(now + validityMs), // §5.1.2.5: conforming CRL issuers MUST include it
    crlExtensions: crlExtensions(issuer, crlNumber),
    signature: algorithm, // §5.1.2.2: the same algorithm as signatureAlgorithm
    signatureAlgorithm: algorithm,
  });
  // §5.1.2.6: when there are no revoked certificates, the list MUST be absent.
  if (revoked.length > 0) crl.revokedCertificates = revoked.map(entryFor);
  // encodeTBS is what pkijs sign() itself uses (protected in its typings only).
  crl.tbsView = derOf((crl as unknown as { encodeTBS(): unknown }).encodeTBS());
  crl.signatureValue = await signatureBits(issuer.key, crl.tbsView);
  return derOf(crl.toSchema());
}

/**
 * Holds the issuing CA's current CRL (DER) and re-signs it: on every revocation (call `refresh` from the
 * event bus) and on a timer at half the validity, so that while fleetgate runs a relying party never
 * holds a CRL past its nextUpdate (RFC 5280 §5.1.2.5). Each CRL is numbered, signed and stored in one
 * unit of work that locks the CRL state: one number at a time, and the stored CRL is the served one.
 */
export class CrlPublisher {
  private current: CrlRecord | null = null;
  private timer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly schedule: SigningSchedule;
  readonly issuerId: string;

  constructor(
    private readonly registry: CrlRegistry,
    private readonly issuer: IssuingCa,
    private readonly options: CrlPublisherOptions = {},
  ) {
    this.schedule = signingSchedule(options, DEFAULT_VALIDITY_MS);
    this.issuerId = options.issuerId ?? FIRST_CA_ID;
  }

  /** The current CRL, DER (application/pkix-crl). Throws before the first refresh. */
  get der(): Uint8Array<ArrayBuffer> {
    if (this.current === null) throw new Error("no CRL signed yet");
    return this.current.der;
  }

  /** The CRL number (RFC 5280 §5.2.3) of the current CRL; 0 before the first refresh. */
  get crlNumber(): number {
    return this.current?.number ?? 0;
  }

  /**
   * Signs a new CRL with the next number. Calls are serialized, so the CRL published last is
   * always the one with the highest number. `reason` ("revocation", "timer"…) goes to onRefresh.
   */
  refresh(reason = "manual"): Promise<Uint8Array<ArrayBuffer>> {
    const next = this.queue.then(() => this.sign(reason));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Re-signs at half the validity (unref'd: it never keeps the process alive). Idempotent. */
  start(): void {
    if (this.timer !== null) return;
    const period = Math.max(1000, Math.floor(this.schedule.validityMs / 2));
    const tick = () => void this.refresh("timer").catch((error: unknown) => this.options.onError?.(error));
    this.timer = setInterval(tick, period);
    this.timer.unref();
  }

  /**
   * A CRL soon rather than now, for changes no relying party has to learn at once (a renewal's superseded
   * certificate; OCSP already answers for it): a renewal storm signs one CRL per `coalesceMs`, not one each.
   */
  refreshSoon(reason = "renewal"): void {
    if (this.soon !== null) return;
    this.soon = setTimeout(() => {
      this.soon = null;
      this.refresh(reason).catch((error: unknown) => this.options.onError?.(error));
    }, this.options.coalesceMs ?? DEFAULT_COALESCE_MS);
    this.soon.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    if (this.soon !== null) clearTimeout(this.soon);
    this.timer = null;
    this.soon = null;
  }

  /**
   * Serves the CRL another node signed and stored, if it is newer than this one's (cluster mode: one
   * node signs per revocation, every node serves the same bytes for the same number).
   */
  async adopt(): Promise<boolean> {
    const stored = await this.registry.currentCrl(this.issuerId);
    if (stored === undefined || stored.number <= this.crlNumber) return false;
    this.current = stored;
    return true;
  }

  private async sign(reason: string): Promise<Uint8Array<ArrayBuffer>> {
    const now = this.schedule.clock.now();
    const { validityMs } = this.schedule;
    const issuer = this.issuerId;
    const { record, entries } = await this.registry.transact(async (tx) => {
      const state = await tx.crlState(issuer);
      // The timers of several nodes: one re-sign per half validity is enough, whoever does it.
      if (reason === "timer" && state !== undefined && now - state.thisUpdate < validityMs / 2) {
        return { record: null, entries: 0 };
      }
      const number = (state?.number ?? 0) + 1;
      const candidates = await tx.revokedCertificates({ issuer, notAfterFrom: crlListingFrom(now, validityMs) });
      // A revoked certificate stays listed one CRL validity past its expiry (see listedOnCrl).
      const listed = candidates.filter((certificate) => listedOnCrl(certificate, now, validityMs));
      const der = await signCrl(this.issuer, number, now, validityMs, listed);
      const record: CrlRecord = { issuer, number, thisUpdate: now, der };
      await tx.saveCrl(record);
      return { record, entries: listed.length };
    });
    if (record === null) {
      await this.adopt();
      return this.der;
    }
    this.current = record;
    this.options.onRefresh?.({ reason, issuer, crlNumber: record.number, entries });
    return record.der;
  }
}
