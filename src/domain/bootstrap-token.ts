import { createHash, randomBytes, randomUUID } from "node:crypto";
import { isValidDeviceId } from "./device-id.js";
import { FleetgateError } from "./errors.js";

/**
 * Bootstrap tokens: `fgt_` + 256 random bits in base64url. Only the SHA-256 of the whole token is
 * stored, so a leaked database does not leak usable tokens. A token either names one device
 * (`deviceId`) or a group prefix for a factory batch (`prefix`, `usesLeft` > 1).
 */
export const TOKEN_PREFIX = "fgt_";
export const TOKEN_RANDOM_BYTES = 32;
const TOKEN_PATTERN = /^fgt_[A-Za-z0-9_-]{43}$/;

export interface TokenRecord {
  readonly id: string;
  readonly hash: string;
  readonly deviceId: string | null;
  readonly prefix: string | null;
  readonly profile: string;
  readonly usesTotal: number;
  readonly usesLeft: number;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly revokedAt: number | null;
}

export function formatToken(random: Uint8Array<ArrayBuffer>): string {
  if (random.length < TOKEN_RANDOM_BYTES) throw new Error("a bootstrap token needs at least 256 random bits");
  return TOKEN_PREFIX + Buffer.from(random.subarray(0, TOKEN_RANDOM_BYTES)).toString("base64url");
}

/** A fresh token from the CSPRNG (256 bits, as above) and a short public id to name it by. */
export function generateToken(): { token: string; id: string } {
  return { token: formatToken(randomBytes(TOKEN_RANDOM_BYTES)), id: randomUUID().slice(0, 8) };
}

export function looksLikeToken(candidate: string): boolean {
  return TOKEN_PATTERN.test(candidate);
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Which device ids a token may enroll. */
export function tokenCovers(token: Pick<TokenRecord, "deviceId" | "prefix">, deviceId: string): boolean {
  if (!isValidDeviceId(deviceId)) return false;
  if (token.deviceId !== null) return token.deviceId === deviceId;
  return token.prefix !== null && deviceId.startsWith(token.prefix) && deviceId.length > token.prefix.length;
}

/** Throws the precise refusal for a token that cannot be spent now. */
export function assertTokenUsable(token: TokenRecord | undefined, now: number): asserts token is TokenRecord {
  if (token === undefined) throw new FleetgateError("token_invalid", "no token with this hash");
  if (token.revokedAt !== null) throw new FleetgateError("token_revoked", `token ${token.id} revoked`);
  if (token.expiresAt <= now) throw new FleetgateError("token_expired", `token ${token.id} expired`);
  if (token.usesLeft <= 0) throw new FleetgateError("token_used", `token ${token.id} has no uses left`);
}

export type TokenState = "active" | "expired" | "used" | "revoked";

export function tokenState(token: TokenRecord, now: number): TokenState {
  if (token.revokedAt !== null) return "revoked";
  if (token.usesLeft <= 0) return "used";
  if (token.expiresAt <= now) return "expired";
  return "active";
}
