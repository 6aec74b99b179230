/**
 * The two DER primitives fleetgate writes itself, for wrapping bytes that are already DER
 * (certificates, a signed TBSCertificate) without parsing them back into objects first.
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
