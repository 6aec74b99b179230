import { normalizeSerial } from "../../../src/domain/identity.js";
import type { FinalState } from "./final-state.js";
import type { Attempt, Ledger } from "./ledger.js";

/**
 * The promises a `kill -9` at any moment must not break, each checked against what the clients were told
 * (the ledger) and what the restarted server shows (FinalState). Every check returns the violations it
 * found, one line each; the tests expect none.
 *
 * - tokens: a bootstrap token is never spent twice — a single-use token yields at most one certificate, a
 *   group token never more than its uses — and an acknowledged token survives (never `token_invalid`).
 * - issued: every certificate the server returned to a client is in the registry (`device show`) and
 *   audited: an answer is only sent once the enrollment is durable.
 * - refused: no certificate exists that no client got, unless an attempt for that device was cut by the
 *   kill (then it may have committed): a refusal changes nothing.
 * - revocations: every revocation the admin API acknowledged (2xx) is durable after restart — device and
 *   certificates revoked, audited — and is on every CRL served afterwards; every revoked certificate in the
 *   registry is on the CRL; nothing is revoked that no acknowledged or cut request asked for.
 * - answers: a refusal is a client error with a stable code, never a 5xx (a racer that got past the token
 *   check and was stopped by a constraint instead); a revocation of a device a client holds a certificate
 *   for is never refused.
 * - audit: the hash chain verifies (`fleetgate audit verify`, exit 0) and seq has no gap.
 * - crl: every served CRL verifies against the issuing CA and the CRL number strictly grows across restarts.
 */
export function violations(ledger: Ledger, state: FinalState): string[] {
  return [
    ...tokenViolations(ledger, state),
    ...issuedViolations(ledger, state),
    ...unexplainedViolations(ledger, state),
    ...revocationViolations(ledger, state),
    ...answerViolations(ledger),
    ...auditViolations(state),
    ...crlViolations(ledger),
  ];
}

const enrolledBy = (state: FinalState, tokenId: string) =>
  state.audit.filter((e) => e.action === "device.enrolled" && e.actor === `token:${tokenId}`);

function tokenViolations(ledger: Ledger, state: FinalState): string[] {
  const out: string[] = [];
  for (const grant of ledger.grants) {
    const attempts = ledger.attempts.filter((a) => a.tokenId === grant.id);
    const issued = attempts.filter((a) => a.outcome.kind === "ok").length;
    const audited = enrolledBy(state, grant.id).length;
    const covered = [...state.devices.values()].filter((d) =>
      grant.deviceId !== null ? d.id === grant.deviceId : d.id.startsWith(grant.prefix!),
    );
    const certificates = covered.reduce((n, d) => n + d.certificates.length, 0);
    const listed = state.tokens.get(grant.id);
    const what = `token ${grant.id} (${grant.uses} use(s))`;
    if (issued > grant.uses) out.push(`${what}: ${issued} certificates returned to clients`);
    if (audited > grant.uses) out.push(`${what}: ${audited} device.enrolled audit entries`);
    if (certificates > grant.uses) out.push(`${what}: ${certificates} certificates in the registry`);
    if (listed === undefined) out.push(`${what}: acknowledged, but not in the token list after restart`);
    else if (listed.usesTotal !== grant.uses || listed.usesLeft !== grant.uses - audited)
      out.push(
        `${what}: listed ${listed.usesLeft}/${listed.usesTotal} uses left, but ${audited} enrollment(s) audited`,
      );
    for (const a of attempts)
      if (a.outcome.kind === "refused" && a.outcome.code === "token_invalid")
        out.push(`${what}: refused as token_invalid to ${a.deviceId} in round ${a.round} (the token was lost)`);
  }
  return out;
}

function issuedViolations(ledger: Ledger, state: FinalState): string[] {
  const out: string[] = [];
  for (const a of ledger.issued()) {
    const serial = (a.outcome as { serial: string }).serial;
    const shown = state.devices.get(a.deviceId)?.certificates.some((c) => c.serial === serial) ?? false;
    if (!shown)
      out.push(`${a.deviceId}: certificate ${serial} returned (round ${a.round}, ${a.via}) is not in the registry`);
    const audited = state.audit.some(
      (e) =>
        e.action === "device.enrolled" &&
        e.subject === a.deviceId &&
        normalizeSerial(String(e.details["serial"])) === serial,
    );
    if (!audited) out.push(`${a.deviceId}: certificate ${serial} returned but no device.enrolled audit entry names it`);
  }
  return out;
}

function unexplainedViolations(ledger: Ledger, state: FinalState): string[] {
  const out: string[] = [];
  for (const device of state.devices.values()) {
    const attempts = ledger.attempts.filter((a) => a.deviceId === device.id);
    const returned = new Set(attempts.flatMap((a) => (a.outcome.kind === "ok" ? [a.outcome.serial] : [])));
    const cut = attempts.filter((a) => a.outcome.kind === "cut").length;
    const unexplained = device.certificates.filter((c) => !returned.has(c.serial));
    // No renewals in the storm, and no token may enroll an id twice: one certificate per device at most.
    if (device.certificates.length > 1)
      out.push(`${device.id}: ${device.certificates.length} certificates; outcomes: ${describe(attempts)}`);
    if (unexplained.length > cut)
      out.push(
        `${device.id}: ${unexplained.length} certificate(s) no client got (${unexplained.map((c) => c.serial).join(", ")}), ` +
          `but only ${cut} attempt(s) were cut; outcomes: ${describe(attempts)}`,
      );
  }
  return out;
}

function describe(attempts: readonly Attempt[]): string {
  return (
    attempts
      .map((a) => `r${a.round}/${a.via}:${a.outcome.kind === "refused" ? a.outcome.code : a.outcome.kind}`)
      .join(" ") || "none"
  );
}

function revocationViolations(ledger: Ledger, state: FinalState): string[] {
  const out: string[] = [];
  for (const r of ledger.acknowledgedRevocations()) {
    const device = state.devices.get(r.deviceId);
    if (device?.status !== "revoked")
      out.push(`${r.deviceId}: revocation acknowledged in round ${r.round}, device is ${device?.status}`);
    const held = ledger
      .issued()
      .filter((a) => a.deviceId === r.deviceId)
      .map((a) => (a.outcome as { serial: string }).serial);
    for (const serial of held)
      if (!r.outcome.serials.includes(serial) && !r.outcome.alreadyRevoked)
        out.push(`${r.deviceId}: revocation acknowledged without the client's certificate ${serial}`);
    for (const serial of r.outcome.serials) {
      const certificate = device?.certificates.find((c) => c.serial === serial);
      if (certificate?.status !== "revoked")
        out.push(`${r.deviceId}: acknowledged-revoked ${serial} is ${certificate?.status}`);
    }
    const audited = state.audit.some((e) => e.action === "device.revoked" && e.subject === r.deviceId);
    if (!audited) out.push(`${r.deviceId}: revocation acknowledged, no device.revoked audit entry`);
  }
  for (const device of state.devices.values()) {
    const asked = ledger.revocations.some(
      (r) => r.deviceId === device.id && (r.outcome.kind === "ok" || r.outcome.kind === "cut"),
    );
    if (device.status === "revoked" && !asked)
      out.push(`${device.id}: revoked, but no acknowledged or cut request asked for it`);
    for (const c of device.certificates) {
      if (c.status === "revoked" && !state.crl.serials.has(c.serial))
        out.push(`${device.id}: revoked ${c.serial} not on the CRL`);
      if (device.status === "revoked" && c.status === "active")
        out.push(`${device.id}: revoked device, active ${c.serial}`);
    }
  }
  return out;
}

function answerViolations(ledger: Ledger): string[] {
  const out: string[] = [];
  for (const a of ledger.attempts)
    if (a.outcome.kind === "refused" && a.outcome.status >= 500)
      out.push(`${a.deviceId}: enrollment (round ${a.round}, ${a.via}) answered ${a.outcome.status} ${a.outcome.code}`);
  for (const r of ledger.revocations)
    if (r.outcome.kind === "refused")
      out.push(`${r.deviceId}: revocation (round ${r.round}) refused ${r.outcome.status} ${r.outcome.code}`);
  return out;
}

function auditViolations(state: FinalState): string[] {
  const out: string[] = [];
  state.audit.forEach((e, i) => {
    if (e.seq !== i + 1) out.push(`audit: entry ${i + 1} has seq ${e.seq} (a gap or a reordering)`);
  });
  const verify = state.auditVerify;
  if (verify.code !== 0 || !verify.stdout.includes(`audit log intact: ${state.audit.length} entries`))
    out.push(`audit verify: exit ${verify.code}: ${verify.stdout.trim()} ${verify.stderr.trim()}`);
  return out;
}

function crlViolations(ledger: Ledger): string[] {
  const out: string[] = [];
  ledger.crls.forEach((crl, i) => {
    if (!crl.verified)
      out.push(`CRL after start ${crl.round}: does not verify against the issuing CA: ${crl.opensslOutput}`);
    const previous = ledger.crls[i - 1];
    if (!(crl.number > (previous?.number ?? 0)))
      out.push(`CRL after start ${crl.round}: number ${crl.number}, previous ${previous?.number ?? "none"}`);
    for (const serial of crl.mustList)
      if (!crl.serials.has(serial)) out.push(`CRL after start ${crl.round}: acknowledged-revoked ${serial} not listed`);
  });
  return out;
}
