/**
 * The little DER fleetgate handles itself: wrapping bytes that are already DER (certificates, a
 * signed TBSCertificate) and slicing out the exact bytes of a structure's elements, without
 * parsing them into objects and serializing them again.
 */

/** X.690 §8.1.3: definite length, short form below 128, long form above. */
export function derLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One tag-length-value whose contents are the concatenation of `contents`. */
export function tlv(tag: number, ...contents: Uint8Array[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Uint8Array.of(tag), derLength(body.length), body]);
}

export const DER_TAG = {
  bitString: 0x03,
  sequence: 0x30,
  set: 0x31,
  context0Constructed: 0xa0,
} as const;

/** Offset of the contents and their length, for the TLV starting at `offset` (definite lengths only). */
function header(der: Uint8Array, offset: number): { contents: number; length: number } {
  const first = der[offset + 1];
  if (first === undefined) throw new Error("DER truncated");
  if (first < 0x80) return { contents: offset + 2, length: first };
  const octets = first & 0x7f;
  if (octets === 0 || octets > 4) throw new Error("DER length form not supported");
  let length = 0;
  for (let i = 0; i < octets; i++) length = length * 256 + (der[offset + 2 + i] ?? Number.NaN);
  return { contents: offset + 2 + octets, length };
}

/**
 * The exact bytes of each element directly inside the outermost constructed TLV (one-byte tags,
 * definite lengths: what X.509, PKCS#10 and CMS use). Throws on anything truncated.
 */
export function elementsInside(der: Uint8Array): Uint8Array[] {
  const outer = header(der, 0);
  const end = outer.contents + outer.length;
  if (Number.isNaN(end) || end > der.length) throw new Error("DER truncated");
  const elements: Uint8Array[] = [];
  for (let offset = outer.contents; offset < end;) {
    const inner = header(der, offset);
    const next = inner.contents + inner.length;
    if (Number.isNaN(next) || next > end) throw new Error("DER truncated");
    elements.push(der.subarray(offset, next));
    offset = next;
  }
  return elements;
}
