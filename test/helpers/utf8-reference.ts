import fc from "fast-check";

/**
 * Unicode 15.0 §3.9 Table 3-7, "Well-Formed UTF-8 Byte Sequences", transcribed byte by byte: the
 * oracle the UTF-8 validator and the MQTT inspector are checked against (independent of TextDecoder).
 */
export function referenceWellFormed(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    if (lead <= 0x7f) {
      i += 1;
      continue;
    }
    let trailing: number;
    let [low, high] = [0x80, 0xbf]; // range of the second byte; later ones are always 80..BF
    if (lead >= 0xc2 && lead <= 0xdf) trailing = 1;
    else if (lead === 0xe0) [trailing, low] = [2, 0xa0];
    else if ((lead >= 0xe1 && lead <= 0xec) || lead === 0xee || lead === 0xef) trailing = 2;
    else if (lead === 0xed) [trailing, high] = [2, 0x9f];
    else if (lead === 0xf0) [trailing, low] = [3, 0x90];
    else if (lead >= 0xf1 && lead <= 0xf3) trailing = 3;
    else if (lead === 0xf4) [trailing, high] = [3, 0x8f];
    else return false; // 80..C1 and F5..FF never lead
    if (i + trailing >= bytes.length) return false;
    const second = bytes[i + 1]!;
    if (second < low || second > high) return false;
    for (let k = 2; k <= trailing; k++) {
      const next = bytes[i + k]!;
      if (next < 0x80 || next > 0xbf) return false;
    }
    i += trailing + 1;
  }
  return true;
}

/** Bytes around every boundary of Table 3-7. */
export const UTF8_EDGE_BYTES = [
  0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0,
  0xf1, 0xf3, 0xf4, 0xf5, 0xff,
] as const;

/** Valid UTF-8 of random text, then corrupted at random places with boundary bytes: mostly near-misses. */
export function nearlyValidUtf8(maxLength = 12): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      fc.string({ unit: "grapheme", maxLength }),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...UTF8_EDGE_BYTES), fc.boolean()), { maxLength: 3 }),
    )
    .map(([text, edits]) => {
      const bytes = [...Buffer.from(text, "utf8")];
      for (const [at, byte, insert] of edits) {
        const index = bytes.length === 0 ? 0 : at % (bytes.length + (insert ? 1 : 0));
        if (insert || bytes.length === 0) bytes.splice(index, 0, byte);
        else bytes[index] = byte;
      }
      return Uint8Array.from(bytes);
    });
}
