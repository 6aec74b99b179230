import pkcs11js from "pkcs11js";
import { describeCkr, isCkr, operationFailed } from "./ckr.js";
import { Pkcs11KeyError } from "./errors.js";
import type { LoadedModule } from "./module.js";

/**
 * Finding a token and judging a login, with the errors an operator sees when the HSM is set up wrong:
 * each names the thing to fix (the label, the PIN, the SO's unlock), never the PIN itself.
 */

/** The slot holding the initialized token labelled `label` (labels are blank-padded to 32 bytes). */
export function findTokenSlot(module: LoadedModule, label: string): Buffer {
  const tokens = listTokens(module);
  const matching = tokens.filter((token) => token.label === label);
  if (matching.length === 1) return matching[0]!.slot;
  if (matching.length > 1) {
    const serials = matching.map((token) => token.serial).join(", ");
    throw new Pkcs11KeyError(
      "PKCS11_TOKEN_AMBIGUOUS",
      `${matching.length} tokens in ${module.path} are labelled "${label}" (serials ${serials}); relabel all but one`,
    );
  }
  const present = tokens.map((token) => JSON.stringify(token.label)).join(", ") || "none";
  throw new Pkcs11KeyError(
    "PKCS11_TOKEN_NOT_FOUND",
    `no token labelled "${label}" (pkcs11.token) in PKCS#11 module ${module.path}; tokens there: ${present}`,
  );
}

function listTokens(module: LoadedModule): { slot: Buffer; label: string; serial: string }[] {
  try {
    return module.p11
      .C_GetSlotList(true)
      .map((slot) => ({ slot, info: module.p11.C_GetTokenInfo(slot) }))
      .filter(({ info }) => (info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0)
      .map(({ slot, info }) => ({ slot, label: info.label.trimEnd(), serial: info.serialNumber.trimEnd() }));
  } catch (error) {
    throw operationFailed(`listing the tokens of ${module.path}`, error);
  }
}

/**
 * A locked PIN is refused before C_Login: another attempt gains nothing, and on some tokens a login
 * attempt against a locked PIN is itself counted or logged as an attack.
 */
export function refuseLockedPin(p11: pkcs11js.PKCS11, slot: Buffer, label: string): void {
  if ((p11.C_GetTokenInfo(slot).flags & pkcs11js.CKF_USER_PIN_LOCKED) !== 0) throw pinLocked(label);
}

/** What a failed C_Login means for the operator. */
export function loginError(p11: pkcs11js.PKCS11, slot: Buffer, label: string, error: unknown): Error {
  if (isCkr(error, pkcs11js.CKR_PIN_LOCKED)) return pinLocked(label, error);
  if (isCkr(error, pkcs11js.CKR_PIN_INCORRECT, pkcs11js.CKR_PIN_INVALID, pkcs11js.CKR_PIN_LEN_RANGE)) {
    const code = describeCkr((error as pkcs11js.Pkcs11Error).code);
    const flags = tokenFlags(p11, slot);
    const warning =
      (flags & pkcs11js.CKF_USER_PIN_FINAL_TRY) !== 0
        ? "; one more wrong PIN locks the token, check before retrying"
        : "";
    return new Pkcs11KeyError(
      "PKCS11_PIN_INCORRECT",
      `the token "${label}" refused the user PIN (${code}): check FLEETGATE_PKCS11_PIN or pkcs11.pinFile${warning}`,
      { cause: error },
    );
  }
  if (isCkr(error, pkcs11js.CKR_USER_PIN_NOT_INITIALIZED))
    return new Pkcs11KeyError("PKCS11_PIN_INCORRECT", `the token "${label}" has no user PIN yet (C_InitPIN)`, {
      cause: error,
    });
  return operationFailed(`login to token "${label}"`, error);
}

function pinLocked(label: string, cause?: unknown): Pkcs11KeyError {
  return new Pkcs11KeyError(
    "PKCS11_PIN_LOCKED",
    `the user PIN of token "${label}" is locked after too many wrong PINs; ` +
      "its security officer must unblock it (set a new user PIN with the SO PIN) before fleetgate can sign",
    { cause },
  );
}

function tokenFlags(p11: pkcs11js.PKCS11, slot: Buffer): number {
  try {
    return p11.C_GetTokenInfo(slot).flags;
  } catch {
    return 0;
  }
}
