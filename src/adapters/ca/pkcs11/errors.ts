/**
 * Why the CA key in the HSM cannot be used, as a stable code a caller can branch on (and a README can
 * list) plus a message an operator can act on. No message ever carries the PIN: it is only ever an
 * argument of C_Login, and the errors built here never quote arguments.
 */
export const PKCS11_ERROR_CODES = [
  "PKCS11_NOT_CONFIGURED",
  "PKCS11_MODULE_LOAD_FAILED",
  "PKCS11_TOKEN_NOT_FOUND",
  "PKCS11_TOKEN_AMBIGUOUS",
  "PKCS11_PIN_INCORRECT",
  "PKCS11_PIN_LOCKED",
  "PKCS11_PIN_MISSING",
  "PKCS11_PIN_FILE_INSECURE",
  "PKCS11_KEY_NOT_FOUND",
  "PKCS11_KEY_AMBIGUOUS",
  "PKCS11_KEY_NOT_EC",
  "PKCS11_UNSUPPORTED_CURVE",
  "PKCS11_PUBLIC_KEY_NOT_FOUND",
  "PKCS11_PUBLIC_KEY_INVALID",
  "PKCS11_KEY_MISMATCH",
  "PKCS11_KEY_EXISTS",
  "PKCS11_CLOSED",
  "PKCS11_OPERATION_FAILED",
] as const;

export type Pkcs11ErrorCode = (typeof PKCS11_ERROR_CODES)[number];

export class Pkcs11KeyError extends Error {
  override name = "Pkcs11KeyError";

  constructor(
    readonly code: Pkcs11ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
