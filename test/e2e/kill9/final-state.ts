import { runCli, type CliResult } from "../../helpers/cli.js";
import { normalizeSerial } from "../../../src/domain/identity.js";
import type { CrlFacts } from "./crl.js";
import type { Admin, ServeTarget } from "./server.js";
import { NAMESPACE } from "./plan.js";

/**
 * The registry as an operator sees it after the last restart — through the admin API the CLI talks to
 * (`device show`, `token list`, `audit list`) and the CLI itself (`audit verify`), never raw SQL — and the
 * CRL the restarted server serves.
 */
export interface ShownCertificate {
  readonly serial: string;
  readonly status: string;
  readonly revocationReason: string | null;
}
export interface ShownDevice {
  readonly id: string;
  readonly status: string;
  readonly revocationReason: string | null;
  readonly certificates: readonly ShownCertificate[];
}
export interface ListedToken {
  readonly id: string;
  readonly usesTotal: number;
  readonly usesLeft: number;
}
export interface AuditEntry {
  readonly seq: number;
  readonly action: string;
  readonly actor: string;
  readonly subject: string;
  readonly details: Record<string, unknown>;
}
export interface FinalState {
  readonly devices: ReadonlyMap<string, ShownDevice>;
  readonly tokens: ReadonlyMap<string, ListedToken>;
  readonly audit: readonly AuditEntry[];
  readonly auditVerify: CliResult;
  readonly crl: CrlFacts;
}

const PAGE = 1000;

async function showAll(admin: Admin): Promise<Map<string, ShownDevice>> {
  const listed = await admin.json<{ id: string }[]>("GET", `/v1/devices?prefix=${NAMESPACE}&limit=${PAGE}`);
  if (listed.length >= PAGE) throw new Error("more storm devices than one page: paginate here");
  const devices = new Map<string, ShownDevice>();
  // A few at a time: each `device show` is its own mTLS exchange.
  for (let i = 0; i < listed.length; i += 8) {
    const shown = await Promise.all(
      listed.slice(i, i + 8).map((d) => admin.json<ShownDevice>("GET", `/v1/devices/${d.id}`)),
    );
    for (const device of shown)
      devices.set(device.id, {
        ...device,
        certificates: device.certificates.map((c) => ({ ...c, serial: normalizeSerial(c.serial) })),
      });
  }
  return devices;
}

export async function readFinalState(admin: Admin, target: ServeTarget, crl: CrlFacts): Promise<FinalState> {
  const [devices, tokens, audit, auditVerify] = await Promise.all([
    showAll(admin),
    admin.json<ListedToken[]>("GET", "/v1/tokens"),
    admin.json<AuditEntry[]>("GET", "/v1/audit?after=0&limit=10000"),
    runCli(target, ["audit", "verify"]),
  ]);
  return { devices, tokens: new Map(tokens.map((t) => [t.id, t])), audit, auditVerify, crl };
}
