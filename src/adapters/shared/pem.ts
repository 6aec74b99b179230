/** PEM and base64 helpers for the few places bytes cross a text boundary. */
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/;

export interface PemBlock {
  readonly label: string;
  readonly der: Uint8Array<ArrayBuffer>;
}

export function pemBlocks(text: string): PemBlock[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1]!, der: strictBase64(m[2]!) ?? new Uint8Array() }));
}

/** The DER of the first block with one of the labels, or null. */
export function pemToDer(text: string, labels: readonly string[]): Uint8Array<ArrayBuffer> | null {
  const block = pemBlocks(text).find((b) => labels.includes(b.label));
  return block && block.der.length > 0 ? block.der : null;
}

export function derToPem(der: Uint8Array<ArrayBuffer>, label: string): string {
  const body = Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/**
 * RFC 8951 §3.1: EST bodies are base64 with or without line breaks. Anything that is not base64
 * (Node's decoder would silently skip it) makes the whole body invalid.
 */
export function strictBase64(text: string): Uint8Array<ArrayBuffer> | null {
  if (!BASE64_BODY.test(text)) return null;
  const compact = text.replace(/\s+/g, "");
  if (compact.length === 0 || compact.length % 4 === 1) return null;
  return new Uint8Array(Buffer.from(compact, "base64"));
}
