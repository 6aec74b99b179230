import { endianness } from "node:os";
import pkcs11js from "pkcs11js";

/**
 * Object search and attribute reads on one session. A search is an operation of its session, so it
 * is always finished (C_FindObjectsFinal) before the session goes back to the pool.
 */

export function findObjects(
  p11: pkcs11js.PKCS11,
  session: Buffer,
  template: pkcs11js.Template,
  limit: number,
): Buffer[] {
  p11.C_FindObjectsInit(session, template);
  try {
    return p11.C_FindObjects(session, limit);
  } finally {
    p11.C_FindObjectsFinal(session);
  }
}

/** The values of `types` on `object`, in that order. */
export function readAttributes(
  p11: pkcs11js.PKCS11,
  session: Buffer,
  object: Buffer,
  types: readonly number[],
): Buffer[] {
  const values = p11.C_GetAttributeValue(
    session,
    object,
    types.map((type) => ({ type })),
  );
  return types.map((type) => values.find((attribute) => attribute.type === type)?.value ?? Buffer.alloc(0));
}

const LITTLE_ENDIAN = endianness() === "LE";

/** A CK_ULONG attribute (CKA_CLASS, CKA_KEY_TYPE): the raw C value, host byte order, 8 bytes on LP64, 4 on Windows. */
export function ulongOf(value: Buffer): number {
  if (value.length === 8) return Number(LITTLE_ENDIAN ? value.readBigUInt64LE(0) : value.readBigUInt64BE(0));
  if (value.length === 4) return LITTLE_ENDIAN ? value.readUInt32LE(0) : value.readUInt32BE(0);
  throw new Error(`a CK_ULONG attribute of ${value.length} bytes`);
}

export function labelOf(p11: pkcs11js.PKCS11, session: Buffer, object: Buffer): string {
  return readAttributes(p11, session, object, [pkcs11js.CKA_LABEL])[0]!.toString("utf8");
}
