import { generateToken, hashToken, type TokenRecord } from "../domain/bootstrap-token.js";
import { isValidDeviceId, isValidDevicePrefix } from "../domain/device-id.js";
import type { Clock, Registry } from "../ports.js";
import { appendAudit } from "./audit-log.js";

export interface IssueTokenRequest {
  readonly deviceId?: string;
  readonly prefix?: string;
  readonly uses?: number;
  readonly ttlMs: number;
  readonly profile: string;
  readonly actor: string;
}

export interface IssuedToken {
  /** The plaintext token: shown once, never stored. */
  readonly token: string;
  readonly record: TokenRecord;
}

export class TokenRequestError extends Error {
  override name = "TokenRequestError";
}

function validate(request: IssueTokenRequest, knownProfiles: ReadonlySet<string>): void {
  const single = request.deviceId !== undefined;
  if (single === (request.prefix !== undefined))
    throw new TokenRequestError("give exactly one of a device id or a group prefix");
  if (single && !isValidDeviceId(request.deviceId))
    throw new TokenRequestError("device id must be 1-64 characters of [A-Za-z0-9._-]");
  if (!single && !isValidDevicePrefix(request.prefix))
    throw new TokenRequestError("prefix must be 1-63 characters of [A-Za-z0-9._-]");
  const uses = request.uses ?? 1;
  if (!Number.isInteger(uses) || uses < 1 || (single && uses !== 1)) {
    throw new TokenRequestError(
      single ? "a single-device token has exactly one use" : "uses must be a positive integer",
    );
  }
  if (!Number.isFinite(request.ttlMs) || request.ttlMs <= 0) throw new TokenRequestError("ttl must be positive");
  if (!knownProfiles.has(request.profile))
    throw new TokenRequestError(
      `unknown profile ${JSON.stringify(request.profile)}; known: ${[...knownProfiles].join(", ")}`,
    );
}

/** Creates a bootstrap token; only its SHA-256 is stored. */
export async function issueToken(
  deps: { registry: Registry; clock: Clock; profiles: ReadonlySet<string> },
  request: IssueTokenRequest,
): Promise<IssuedToken> {
  validate(request, deps.profiles);
  const { token, id } = generateToken();
  const now = deps.clock.now();
  const uses = request.uses ?? 1;
  const record: TokenRecord = {
    id,
    hash: hashToken(token),
    deviceId: request.deviceId ?? null,
    prefix: request.prefix ?? null,
    profile: request.profile,
    usesTotal: uses,
    usesLeft: uses,
    createdAt: now,
    expiresAt: now + request.ttlMs,
    revokedAt: null,
  };
  const scope = record.deviceId ? { deviceId: record.deviceId } : { prefix: record.prefix, uses };
  const details = { ...scope, profile: record.profile, expiresAt: record.expiresAt };
  await deps.registry.transact(async (tx) => {
    await tx.insertToken(record);
    await appendAudit(tx, { actor: request.actor, action: "token.created", subject: record.id, details }, now);
  });
  return { token, record };
}
