import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newKeyAndCsr } from "../../../src/adapters/shared/local-credential.js";
import { decodeCsr } from "../../../src/adapters/ca/csr-decoder.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";

/** The subject's attribute values as [ASN.1 universal tag, text]. */
function subjectValues(der: Uint8Array<ArrayBuffer>): [number, string][] {
  const certificate = pkijs.Certificate.fromBER(der);
  return certificate.subject.typesAndValues.map((tv) => [
    tv.value.idBlock.tagNumber,
    (tv.value as asn1js.Utf8String).valueBlock.value,
  ]);
}

describe("device certificates built from the template", () => {
  let fg: TestFleetgate;
  beforeAll(async () => {
    fg = await startTestFleetgate();
  });
  afterAll(async () => fg?.close());

  async function issue(deviceId: string) {
    const { csrDer } = await newKeyAndCsr(deviceId);
    const csr = await decodeCsr(csrDer);
    return fg.running.deps.signer.sign({
      deviceId,
      role: "device",
      lifetimeMs: 86_400_000,
      publicKeySpki: csr.publicKeySpki,
      now: Date.now(),
    });
  }

  it("encode CN and OU as PrintableString where allowed, UTF8String for an id with `_` (RFC 5280 §4.1.2.6)", async () => {
    const PRINTABLE = 19;
    const UTF8 = 12;
    expect(subjectValues((await issue("dev-1")).der)).toEqual([
      [PRINTABLE, "dev-1"],
      [PRINTABLE, "device"],
    ]);
    expect(subjectValues((await issue("dev_2")).der)).toEqual([
      [UTF8, "dev_2"],
      [PRINTABLE, "device"],
    ]);
  });

  it("verify with openssl against the issuing CA, and the PEM and DER agree", async () => {
    const issued = await issue("dev_3");
    const file = join(fg.dataDir, "dev_3.crt");
    writeFileSync(file, issued.pem);
    const out = execFileSync(
      "openssl",
      ["verify", "-CAfile", fg.pki.rootCert, "-untrusted", fg.pki.issuingCert, file],
      { encoding: "utf8" },
    );
    expect(out.trim()).toBe(`${file}: OK`);
    const der = execFileSync("openssl", ["x509", "-in", file, "-outform", "DER"]);
    expect(Buffer.from(issued.der)).toEqual(der);
  });
});
