/**
 * [MQTT-1.5.3-1]: every UTF-8 string in a control packet must be well-formed: no overlong forms, no
 * surrogate code points (U+D800..U+DFFF, CESU-8), nothing above U+10FFFF, no stray continuation bytes.
 * A receiver that finds one MUST close the connection; decoding it leniently (U+FFFD) is what an
 * attacker relies on to slip a topic past rules that compare strings.
 */
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function isWellFormedUtf8(bytes: Uint8Array): boolean {
  // Fast path: topics are nearly always ASCII.
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return true;
  try {
    strict.decode(bytes);
    return true;
  } catch {
    return false;
  }
}
