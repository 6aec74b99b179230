import { describe, expect, it } from "vitest";
import {
  canonicalJson,
  chainHash,
  findChainBreak,
  GENESIS_HASH,
  type ChainedContent,
} from "../../src/domain/audit-chain.js";

type Entry = ChainedContent & { prevHash: string; hash: string };

function buildChain(count: number): Entry[] {
  const entries: Entry[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= count; seq += 1) {
    const content: ChainedContent = {
      seq,
      at: 1_700_000_000_000 + seq,
      actor: seq % 2 ? "cli" : "token:abcd",
      action: seq % 2 ? "token.created" : "device.enrolled",
      subject: `dev-${seq}`,
      details: { serial: `0${seq}`, nested: { b: seq, a: [1, "x"] } },
    };
    const hash = chainHash(prevHash, content);
    entries.push({ ...content, prevHash, hash });
    prevHash = hash;
  }
  return entries;
}

/** Re-hashes entries from `from` on, as a forger who rewrites the rest of the chain would. */
function rehashFrom(entries: Entry[], from: number): Entry[] {
  const out = entries.slice(0, from);
  let prevHash = from === 0 ? GENESIS_HASH : out[from - 1]!.hash;
  for (const entry of entries.slice(from)) {
    const { prevHash: _p, hash: _h, ...content } = entry;
    const hash = chainHash(prevHash, content);
    out.push({ ...content, prevHash, hash });
    prevHash = hash;
  }
  return out;
}

describe("canonicalJson", () => {
  it("sorts keys at every depth and drops undefined", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[3,{"y":2,"z":1}]},"b":1}',
    );
    expect(canonicalJson({ x: 1, y: 2 })).toBe(canonicalJson({ y: 2, x: 1 }));
  });

  it("keeps array order and distinguishes types", () => {
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
    expect(canonicalJson({ a: "1" })).not.toBe(canonicalJson({ a: 1 }));
    expect(canonicalJson(null)).toBe("null");
  });
});

describe("chainHash", () => {
  const content: ChainedContent = { seq: 1, at: 5, actor: "a", action: "x", subject: null, details: { k: "v" } };

  it("is deterministic and independent of key order", () => {
    const reordered = { details: { k: "v" }, subject: null, action: "x", actor: "a", at: 5, seq: 1 } as ChainedContent;
    expect(chainHash(GENESIS_HASH, content)).toBe(chainHash(GENESIS_HASH, reordered));
    expect(chainHash(GENESIS_HASH, content)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("hashes only the chained fields, so a stored entry (with prevHash and hash) verifies", () => {
    const stored = { ...content, prevHash: GENESIS_HASH, hash: "f".repeat(64) };
    expect(chainHash(GENESIS_HASH, stored)).toBe(chainHash(GENESIS_HASH, content));
  });

  it("covers the previous hash and every field", () => {
    const base = chainHash(GENESIS_HASH, content);
    expect(chainHash("1".repeat(64), content)).not.toBe(base);
    for (const changed of [
      { ...content, seq: 2 },
      { ...content, at: 6 },
      { ...content, actor: "b" },
      { ...content, action: "y" },
      { ...content, subject: "s" },
      { ...content, details: { k: "w" } },
    ]) {
      expect(chainHash(GENESIS_HASH, changed)).not.toBe(base);
    }
  });
});

describe("findChainBreak", () => {
  it("accepts an intact chain, and the empty chain", () => {
    expect(findChainBreak(buildChain(6))).toBeNull();
    expect(findChainBreak([])).toBeNull();
  });

  it("detects an edited entry at that entry", () => {
    const chain = buildChain(6);
    chain[2] = { ...chain[2]!, details: { serial: "forged" } };
    expect(findChainBreak(chain)).toEqual({ seq: 3, problem: "content does not match its hash" });
  });

  it("detects an edited entry whose own hash was recomputed at the next entry", () => {
    const chain = buildChain(6);
    const { prevHash, hash: _h, ...content } = chain[2]!;
    const forged = { ...content, actor: "someone-else" };
    chain[2] = { ...forged, prevHash, hash: chainHash(prevHash, forged) };
    expect(findChainBreak(chain)).toEqual({ seq: 4, problem: "previous-hash link broken" });
  });

  it("detects a deleted entry", () => {
    const chain = buildChain(6);
    chain.splice(3, 1);
    expect(findChainBreak(chain)).toEqual({ seq: 4, problem: "entry 4 is missing" });
  });

  it("detects a deleted entry even when the rest of the chain is re-hashed", () => {
    const chain = rehashFrom(
      buildChain(6).filter((e) => e.seq !== 2),
      1,
    );
    expect(findChainBreak(chain)).toEqual({ seq: 2, problem: "entry 2 is missing" });
  });

  it("detects two entries swapped", () => {
    const chain = buildChain(6);
    [chain[1], chain[2]] = [chain[2]!, chain[1]!];
    expect(findChainBreak(chain)?.seq).toBe(2);
  });

  it("detects reordered entries whose seq numbers were rewritten to look consecutive", () => {
    const chain = buildChain(6);
    const swapped = [chain[0]!, { ...chain[2]!, seq: 2 }, { ...chain[1]!, seq: 3 }, ...chain.slice(3)];
    expect(findChainBreak(swapped)).toEqual({ seq: 2, problem: "previous-hash link broken" });
  });

  it("detects an inserted entry", () => {
    const chain = buildChain(4);
    const intruder = { ...chain[1]!, action: "device.enrolled", subject: "intruder" };
    const withIntruder = [chain[0]!, intruder, ...chain.slice(1)];
    expect(findChainBreak(withIntruder)).not.toBeNull();
  });

  it("verifies a segment from a known anchor", () => {
    const chain = buildChain(6);
    expect(findChainBreak(chain.slice(3), chain[2]!.hash, 4)).toBeNull();
    expect(findChainBreak(chain.slice(3), GENESIS_HASH, 4)).toEqual({ seq: 4, problem: "previous-hash link broken" });
    expect(findChainBreak(chain.slice(3))).toEqual({ seq: 1, problem: "entry 1 is missing" });
  });

  it("cannot see a truncated tail on its own (why the table also refuses DELETE)", () => {
    expect(findChainBreak(buildChain(6).slice(0, 4))).toBeNull();
  });
});
