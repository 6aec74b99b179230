import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  assertTokenUsable,
  formatToken,
  generateToken,
  hashToken,
  looksLikeToken,
  TOKEN_PREFIX,
  TOKEN_RANDOM_BYTES,
  tokenCovers,
  tokenState,
  type TokenRecord,
} from "../../src/domain/bootstrap-token.js";
import { FleetgateError, type ErrorCode } from "../../src/domain/errors.js";
import { FIXED_NOW, tokenRecord } from "../helpers/records.js";

const NOW = FIXED_NOW;
const record = tokenRecord;

function refusal(token: TokenRecord | undefined): ErrorCode | "usable" {
  try {
    assertTokenUsable(token, NOW);
    return "usable";
  } catch (error) {
    if (error instanceof FleetgateError) return error.code;
    throw error;
  }
}

describe("generateToken", () => {
  it("makes well-formed, distinct tokens with an 8-hex-digit id", () => {
    const issued = Array.from({ length: 50 }, () => generateToken());
    for (const { token, id } of issued) {
      expect(looksLikeToken(token)).toBe(true);
      expect(id).toMatch(/^[0-9a-f]{8}$/);
    }
    expect(new Set(issued.map((t) => t.token)).size).toBe(50);
  });
});

describe("formatToken / looksLikeToken", () => {
  it("is fgt_ + 256 bits in base64url (43 characters)", () => {
    const bytes = new Uint8Array(TOKEN_RANDOM_BYTES).fill(0xff);
    const token = formatToken(bytes);
    expect(TOKEN_RANDOM_BYTES * 8).toBeGreaterThanOrEqual(128);
    expect(token).toBe(TOKEN_PREFIX + Buffer.from(bytes).toString("base64url"));
    expect(token).toMatch(/^fgt_[A-Za-z0-9_-]{43}$/);
    expect(looksLikeToken(token)).toBe(true);
  });

  it("refuses fewer than 256 random bits", () => {
    expect(() => formatToken(new Uint8Array(TOKEN_RANDOM_BYTES - 1))).toThrow(/256 random bits/);
  });

  it("uses only the first 32 bytes of a longer buffer", () => {
    const long = new Uint8Array(40).map((_, i) => i);
    expect(formatToken(long)).toBe(formatToken(long.slice(0, 32)));
  });

  it("distinct random inputs give distinct tokens", () => {
    const a = new Uint8Array(32);
    const b = new Uint8Array(32);
    b[31] = 1;
    expect(formatToken(a)).not.toBe(formatToken(b));
  });

  it.each([
    "",
    "fgt_",
    "fgt_" + "A".repeat(42),
    "fgt_" + "A".repeat(44),
    "FGT_" + "A".repeat(43),
    "xyz_" + "A".repeat(43),
    "fgt_" + "A".repeat(42) + "=",
    "fgt_" + "A".repeat(42) + "+",
    " fgt_" + "A".repeat(43),
    "fgt_" + "A".repeat(43) + "\n",
  ])("does not mistake %j for a token", (candidate) => {
    expect(looksLikeToken(candidate)).toBe(false);
  });
});

describe("hashToken", () => {
  it("is the SHA-256 hex of the whole token", () => {
    const token = formatToken(new Uint8Array(32));
    expect(hashToken(token)).toBe(createHash("sha256").update(token).digest("hex"));
    expect(hashToken(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashToken(token)).not.toContain(token.slice(4));
  });

  it("differs for tokens differing in one character", () => {
    const token = formatToken(new Uint8Array(32));
    const other = token.slice(0, -1) + (token.endsWith("A") ? "B" : "A");
    expect(hashToken(token)).not.toBe(hashToken(other));
  });
});

describe("tokenCovers", () => {
  it("a single-device token covers exactly its device", () => {
    const single = { deviceId: "dev-1", prefix: null };
    expect(tokenCovers(single, "dev-1")).toBe(true);
    expect(tokenCovers(single, "dev-10")).toBe(false);
    expect(tokenCovers(single, "dev-")).toBe(false);
    expect(tokenCovers(single, "DEV-1")).toBe(false);
  });

  it("a group token covers ids that start with the prefix and are longer than it", () => {
    const group = { deviceId: null, prefix: "fab7-" };
    expect(tokenCovers(group, "fab7-0001")).toBe(true);
    expect(tokenCovers(group, "fab7-x")).toBe(true);
    expect(tokenCovers(group, "fab7-")).toBe(false);
    expect(tokenCovers(group, "fab7")).toBe(false);
    expect(tokenCovers(group, "xfab7-1")).toBe(false);
    expect(tokenCovers(group, "FAB7-1")).toBe(false);
  });

  it("never covers an invalid device id, even under the right prefix", () => {
    const group = { deviceId: null, prefix: "fab7-" };
    expect(tokenCovers(group, "fab7-/x")).toBe(false);
    expect(tokenCovers(group, "fab7-+")).toBe(false);
    expect(tokenCovers(group, "fab7-" + "a".repeat(60))).toBe(false);
    expect(tokenCovers({ deviceId: "dev 1", prefix: null }, "dev 1")).toBe(false);
  });

  it("a token with neither device nor prefix covers nothing", () => {
    expect(tokenCovers({ deviceId: null, prefix: null }, "dev-1")).toBe(false);
  });
});

describe("assertTokenUsable", () => {
  it("passes a live token with uses left", () => {
    expect(refusal(record())).toBe("usable");
  });

  it.each<[string, TokenRecord | undefined, ErrorCode]>([
    ["unknown", undefined, "token_invalid"],
    ["revoked", record({ revokedAt: NOW - 1 }), "token_revoked"],
    ["expired", record({ expiresAt: NOW - 1 }), "token_expired"],
    ["expiring this very millisecond", record({ expiresAt: NOW }), "token_expired"],
    ["used up", record({ usesLeft: 0 }), "token_used"],
    [
      "revoked and expired and used: revoked wins",
      record({ revokedAt: NOW, expiresAt: NOW - 1, usesLeft: 0 }),
      "token_revoked",
    ],
    ["expired and used: expired wins", record({ expiresAt: NOW - 1, usesLeft: 0 }), "token_expired"],
  ])("refuses a token that is %s", (_label, token, code) => {
    expect(refusal(token)).toBe(code);
  });

  it("names the token id, never a secret, in the internal detail", () => {
    try {
      assertTokenUsable(record({ id: "abcd1234", usesLeft: 0 }), NOW);
      expect.unreachable();
    } catch (error) {
      expect((error as FleetgateError).detail).toContain("abcd1234");
      expect((error as FleetgateError).status).toBe(401);
    }
  });
});

describe("tokenState", () => {
  it.each<[Partial<TokenRecord>, string]>([
    [{}, "active"],
    [{ revokedAt: NOW }, "revoked"],
    [{ usesLeft: 0 }, "used"],
    [{ expiresAt: NOW }, "expired"],
    [{ expiresAt: NOW - 1, usesLeft: 0 }, "used"],
    [{ revokedAt: NOW, usesLeft: 0 }, "revoked"],
  ])("%j -> %s", (overrides, state) => {
    expect(tokenState(record(overrides), NOW)).toBe(state);
  });
});
