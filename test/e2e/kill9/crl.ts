import { spawn } from "node:child_process";
import { normalizeSerial } from "../../../src/domain/identity.js";

/** What a relying party learns from one served CRL, read by `openssl crl` against the issuing CA. */
export interface CrlFacts {
  /** `openssl crl -CAfile <issuing CA>` exited 0 and said "verify OK". */
  readonly verified: boolean;
  /** X509v3 CRL Number (RFC 5280 §5.2.3); NaN when openssl printed none. */
  readonly number: number;
  /** Listed serials, normalized (lower-case hex, no leading zero bytes). */
  readonly serials: ReadonlySet<string>;
  readonly opensslOutput: string;
}

/** `openssl crl -inform DER -CAfile <issuingCaFile> -noout -text`, the DER on stdin (no event-loop block). */
export function inspectCrl(der: Buffer, issuingCaFile: string): Promise<CrlFacts> {
  return new Promise((resolve, reject) => {
    const args = ["crl", "-inform", "DER", "-CAfile", issuingCaFile, "-noout", "-text"];
    const child = spawn("openssl", args, { timeout: 15_000 }); // killed, and so unverified, past the deadline
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => {
      const number = /CRL Number:\s*\n?\s*(\d+)/.exec(out)?.[1];
      const serials = [...out.matchAll(/Serial Number:\s*([0-9A-Fa-f:]+)/g)].map((m) => normalizeSerial(m[1]!));
      resolve({
        verified: code === 0 && /verify OK/.test(err),
        number: number === undefined ? Number.NaN : Number(number),
        serials: new Set(serials),
        opensslOutput: `${err.trim()} (exit ${code})`,
      });
    });
    child.stdin.end(der);
  });
}
