import * as asn1js from "asn1js";
import fc from "fast-check";
import * as pkijs from "pkijs";
import { describe, expect, it } from "vitest";
import { certsOnlyDer } from "../../../src/adapters/shared/certs-only.js";
import { DER_TAG, derLength, elementsInside, tlv } from "../../../src/adapters/shared/der.js";

describe("DER primitives", () => {
  it("encode lengths as asn1js decodes them, short and long form", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 70_000 }), (content) => {
        const encoded = tlv(0x04, content);
        const decoded = asn1js.fromBER(encoded);
        expect(decoded.offset).toBe(encoded.length);
        expect(Buffer.from((decoded.result as asn1js.OctetString).valueBlock.valueHexView)).toEqual(
          Buffer.from(content),
        );
      }),
      { numRuns: 60 },
    );
    expect([...derLength(127)]).toEqual([127]);
    expect([...derLength(128)]).toEqual([0x81, 128]);
    expect([...derLength(256)]).toEqual([0x82, 1, 0]);
  });

  it("elementsInside returns exactly the children of the outer SEQUENCE, byte for byte", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 300 }), (first, second) => {
        const inner = tlv(DER_TAG.sequence, first);
        const last = tlv(0x03, second);
        expect(elementsInside(tlv(DER_TAG.sequence, inner, last)).map((e) => Buffer.from(e))).toEqual([inner, last]);
      }),
      { numRuns: 60 },
    );
  });

  it("elementsInside refuses truncated input instead of reading past the end", () => {
    const whole = tlv(DER_TAG.sequence, tlv(DER_TAG.sequence, new Uint8Array(300)));
    for (const cut of [0, 1, 2, 5, 100, whole.length - 1])
      expect(() => elementsInside(whole.subarray(0, cut))).toThrow();
  });
});

describe("certs-only CMS (RFC 5652 §5, degenerate SignedData)", () => {
  it("parses with pkijs as SignedData v1 holding the certificates byte for byte, no signers", () => {
    const fakeCertificates = [
      tlv(DER_TAG.sequence, tlv(0x04, Uint8Array.of(1, 2, 3))),
      tlv(DER_TAG.sequence, tlv(0x04, new Uint8Array(200))),
    ];
    const info = pkijs.ContentInfo.fromBER(new Uint8Array(certsOnlyDer(fakeCertificates)));
    expect(info.contentType).toBe(pkijs.ContentInfo.SIGNED_DATA);
    const content = info.content as asn1js.Sequence;
    const items = content.valueBlock.value;
    expect((items[0] as asn1js.Integer).valueBlock.valueDec).toBe(1);
    const certificates = items.find((i) => i.idBlock.tagClass === 3 && i.idBlock.tagNumber === 0) as asn1js.Constructed;
    expect(certificates.valueBlock.value.map((c) => Buffer.from(c.toBER()))).toEqual(fakeCertificates);
    expect((items[items.length - 1] as asn1js.Set).valueBlock.value).toHaveLength(0);
  });
});
