import pkcs11js from "pkcs11js";
import { Pkcs11KeyError } from "./errors.js";

/*
 * The CKR_* return value in what pkcs11js throws. Kept apart from errors.ts, which config.ts imports:
 * parsing the configuration must not load the native addon.
 */

/** CKR_* value → name, from the library's own constants (it knows more return values than we name). */
const CKR_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(pkcs11js)
    .filter((entry): entry is [string, number] => entry[0].startsWith("CKR_") && typeof entry[1] === "number")
    .map(([name, value]) => [value, name]),
);

/** The CKR_* return value a pkcs11js call failed with, or null for anything else (a TypeError, a dlopen failure). */
export function ckrOf(error: unknown): number | null {
  return error instanceof pkcs11js.Pkcs11Error ? error.code : null;
}

export function isCkr(error: unknown, ...codes: readonly number[]): boolean {
  const code = ckrOf(error);
  return code !== null && codes.includes(code);
}

/** "CKR_DEVICE_ERROR (0x30)": the name an HSM vendor's manual uses, and the number for the ones it adds. */
export function describeCkr(code: number): string {
  return `${CKR_NAMES.get(code) ?? "vendor-defined return value"} (0x${code.toString(16)})`;
}

/** Wraps an unexpected failure of `what` ("signing with key ca-root") keeping the CKR name in the message. */
export function operationFailed(what: string, error: unknown): Pkcs11KeyError {
  const code = ckrOf(error);
  const reason = code === null ? String((error as Error)?.message ?? error) : describeCkr(code);
  return new Pkcs11KeyError("PKCS11_OPERATION_FAILED", `PKCS#11 ${what} failed: ${reason}`, { cause: error });
}
