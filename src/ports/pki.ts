import type { CaState } from "../domain/issuing-cas.js";

// Ports: the PKI a server runs with (issuing CAs, server certificate, reloads).

/** One issuing CA as operators see it (`fleetgate ca list`). */
export interface IssuingCaInfo {
  readonly id: string;
  readonly state: CaState;
  readonly subject: string;
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly key: "file" | "pkcs11";
}

/** The listeners' own TLS certificate. */
export interface ServerCertificateInfo {
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly names: readonly string[];
  /** The id of the issuing CA that signed it, null if none of the trusted ones did. */
  readonly issuer: string | null;
}

export interface RootCertificateInfo {
  readonly subject: string;
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

/** What a reload changed: the CA set trusted now, and whether the server certificate was replaced. */
export interface PkiReload {
  readonly activeCa: string;
  readonly trusted: readonly string[];
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly serverCertificateChanged: boolean;
  readonly serverCertificate: ServerCertificateInfo;
}

/**
 * The issuing CAs and server certificate of a running server, as the files in pki/ say (the CLI writes
 * them: `ca activate`, `server-cert renew`). A reload reads them again and swaps them in for new
 * connections and new certificates; connections already open keep what they have.
 */
export interface PkiControl {
  /** Every CA in pki/issuing-cas.json, retired ones included, the active one first. */
  issuingCas(): readonly IssuingCaInfo[];
  serverCertificate(): ServerCertificateInfo;
  rootCertificate(): RootCertificateInfo;
  /** Throws FleetgateError("pki_invalid") and keeps the current PKI if the files cannot be loaded. */
  reload(): Promise<PkiReload>;
  /** Marks the CA retired on disk (its key file is deleted), then reloads: nothing trusts it any more. */
  retire(id: string): Promise<PkiReload>;
}
