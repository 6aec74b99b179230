import { isoTime, printTable } from "./output.js";

/** GET /v1/pki as the CLI reads it (instants are ISO 8601 strings). */
export interface PkiRows {
  readonly issuingCas: readonly {
    readonly id: string;
    readonly state: string;
    readonly subject: string;
    readonly notAfter: string;
    readonly key: string;
    readonly usage: {
      readonly validCertificates: number;
      readonly activeOperators: number;
      readonly lastNotAfter: string | null;
    };
  }[];
  readonly serverCertificate: {
    readonly serial: string;
    readonly notAfter: string;
    readonly issuer: string | null;
    readonly names: readonly string[];
  };
  readonly root: { readonly subject: string; readonly notAfter: string };
}

function expiresIn(notAfter: string, now: number): string {
  const ms = Date.parse(notAfter) - now;
  if (ms < 0) return "expired";
  const days = Math.floor(ms / 86_400_000);
  return days > 0
    ? `${days}d${Math.floor((ms % 86_400_000) / 3_600_000)}h`
    : `${Math.floor(ms / 3_600_000)}h${Math.floor((ms % 3_600_000) / 60_000)}m`;
}

/**
 * One table of every certificate fleetgate's own PKI depends on, soonest expiry first when asked for
 * `--expiring`: the root, each issuing CA (with what it still vouches for: valid certificates it issued,
 * active operators, and when the last of them expires, i.e. when it may be retired) and the server
 * certificate.
 */
export function printPki(view: PkiRows, within: number | null, now: number): void {
  const rows = [
    ...view.issuingCas.map((ca) => ({
      certificate: `issuing ${ca.id}`,
      state: ca.state,
      key: ca.key,
      notAfter: ca.notAfter,
      expiresIn: ca.state === "retired" ? "-" : expiresIn(ca.notAfter, now),
      validIssued: ca.usage.validCertificates,
      operators: ca.usage.activeOperators,
      lastIssuedExpiry: ca.usage.lastNotAfter,
      subject: ca.subject,
    })),
    {
      certificate: "root",
      state: "trusted",
      notAfter: view.root.notAfter,
      expiresIn: expiresIn(view.root.notAfter, now),
      subject: view.root.subject,
    },
    {
      certificate: "server",
      state: view.serverCertificate.issuer === null ? "issuer unknown" : `from ${view.serverCertificate.issuer}`,
      notAfter: view.serverCertificate.notAfter,
      expiresIn: expiresIn(view.serverCertificate.notAfter, now),
      subject: view.serverCertificate.names.join(","),
    },
  ];
  const shown =
    within === null
      ? rows
      : rows
          .filter((row) => row.state !== "retired" && Date.parse(row.notAfter) < now + within)
          .sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter));
  printTable(
    shown.map((row) => ({ ...row, notAfter: isoTime(Date.parse(row.notAfter)) })),
    ["certificate", "state", "key", "notAfter", "expiresIn", "validIssued", "operators", "lastIssuedExpiry", "subject"],
  );
}
