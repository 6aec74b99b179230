/**
 * The one error catalogue. Every refusal fleetgate makes carries one of these stable codes;
 * the README lists them all (a test keeps the two in step). The public message is safe to send
 * to an untrusted client; the internal cause travels separately and is only logged.
 */
export const ERROR_CATALOGUE = {
  malformed_request: { status: 400, message: "The request body is not valid JSON of the expected shape." },
  malformed_csr: { status: 400, message: "The certificate signing request could not be decoded as PKCS#10." },
  csr_signature_invalid: { status: 400, message: "The CSR's self-signature does not verify (no proof of possession)." },
  token_missing: { status: 401, message: "A bootstrap token is required." },
  token_invalid: { status: 401, message: "The bootstrap token is not valid." },
  token_expired: { status: 401, message: "The bootstrap token has expired." },
  token_used: { status: 401, message: "The bootstrap token has no enrollments left." },
  token_revoked: { status: 401, message: "The bootstrap token was revoked." },
  client_certificate_required: {
    status: 401,
    message: "Re-enrollment needs a valid client certificate issued by this CA.",
  },
  operator_certificate_required: {
    status: 401,
    message: "The admin API needs a verified operator client certificate.",
  },
  operator_not_authorized: { status: 403, message: "This certificate is not an active operator certificate." },
  certificate_not_active: { status: 403, message: "The client certificate is unknown, superseded or revoked." },
  cn_invalid: { status: 403, message: "The CSR's common name must be 1-64 characters of [A-Za-z0-9._-]." },
  cn_mismatch: { status: 403, message: "The CSR's common name is not the one this credential may enroll." },
  key_not_allowed: { status: 403, message: "The CSR's public key type or size is not allowed." },
  csr_requests_ca: { status: 403, message: "A device certificate can never be a CA certificate." },
  device_exists: {
    status: 403,
    message: "This device id is already enrolled; only a token issued for this exact device can re-enroll it.",
  },
  device_revoked: {
    status: 403,
    message: "This device is revoked; an operator must reset it before it can enroll again.",
  },
  cross_origin_refused: {
    status: 403,
    message: "The admin API refuses requests from another origin (a page that is not the admin console).",
  },
  not_found: { status: 404, message: "No such resource." },
  request_timeout: {
    status: 408,
    message: "The request was not received in time; the connection is closed.",
  },
  audit_chain_broken: {
    status: 409,
    message: "The audit log's hash chain is broken; no checkpoint is signed over it.",
  },
  ca_in_use: {
    status: 409,
    message: "This issuing CA cannot be retired: it is active or still vouches for valid certificates.",
  },
  registry_not_empty: {
    status: 409,
    message: "The destination registry already holds facts; a registry is copied only into an empty one.",
  },
  body_too_large: { status: 413, message: "The request body is larger than allowed." },
  uri_too_long: {
    status: 414,
    message: "A path parameter of the request URL (e.g. a device id) is longer than allowed.",
  },
  unsupported_media_type: { status: 415, message: "The request's content type is not accepted here." },
  rate_limited: { status: 429, message: "Too many requests; slow down." },
  headers_too_large: {
    status: 431,
    message: "The request line and headers are larger than allowed; the connection is closed.",
  },
  unavailable: {
    status: 503,
    message: "A service fleetgate depends on (its registry) cannot be reached; try again shortly.",
  },
  internal_error: { status: 500, message: "Internal error; the operator can find details in the server log." },
  pki_invalid: {
    status: 500,
    message: "The PKI files on disk could not be loaded; the server keeps the certificates it had.",
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

/** A refusal with a stable code. `detail` is internal (logged, never sent). */
export class FleetgateError extends Error {
  readonly code: ErrorCode;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(ERROR_CATALOGUE[code].message, options);
    this.name = "FleetgateError";
    this.code = code;
    this.detail = detail;
  }

  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }

  toPublicJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: ERROR_CATALOGUE[this.code].message };
  }
}

export function isFleetgateError(value: unknown): value is FleetgateError {
  return value instanceof FleetgateError;
}
