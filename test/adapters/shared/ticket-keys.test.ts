import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadTicketSecret, TicketKeyRotation, ticketKeysFor } from "../../../src/adapters/shared/ticket-keys.js";

const dir = mkdtempSync(join(tmpdir(), "fleetgate-tickets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("ticketKeysFor", () => {
  const secret = Buffer.alloc(32, 7);

  it("derives the same 48 bytes for the same secret, listener and period (what every node computes)", () => {
    const keys = ticketKeysFor(secret, "mqtt", 42);
    expect(keys).toHaveLength(48);
    expect(ticketKeysFor(Buffer.alloc(32, 7), "mqtt", 42).equals(keys)).toBe(true);
  });

  it("derives different keys for another period, another listener or another secret", () => {
    const keys = ticketKeysFor(secret, "mqtt", 42).toString("hex");
    const others = [
      ticketKeysFor(secret, "mqtt", 43),
      ticketKeysFor(secret, "mqtt", 41),
      ticketKeysFor(secret, "enroll", 42),
      ticketKeysFor(Buffer.alloc(32, 8), "mqtt", 42),
    ].map((k) => k.toString("hex"));
    expect(new Set([keys, ...others]).size).toBe(5);
    // The key name (first 16 bytes) differs too: a ticket under another period's key is discarded, not tried.
    expect(new Set([keys, ...others].map((k) => k.slice(0, 32))).size).toBe(5);
  });
});

describe("loadTicketSecret", () => {
  it("makes a 0600 secret on first use and reads the same one afterwards", () => {
    const path = join(dir, "first.secret");
    const secret = loadTicketSecret(path);
    expect(secret).toHaveLength(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadTicketSecret(path).equals(secret)).toBe(true);
  });

  it("refuses a secret others can read, and one too short", () => {
    const open = join(dir, "open.secret");
    writeFileSync(open, "ab".repeat(32), { mode: 0o644 });
    chmodSync(open, 0o644);
    expect(() => loadTicketSecret(open)).toThrow(/mode 644.*0600/);
    const short = join(dir, "short.secret");
    writeFileSync(short, "abcd", { mode: 0o600 });
    expect(() => loadTicketSecret(short)).toThrow(/64 hex digits/);
  });
});

describe("TicketKeyRotation", () => {
  it("gives each listener the current period's keys and applies the next period's at the boundary", async () => {
    const secret = Buffer.alloc(32, 1);
    const rotation = new TicketKeyRotation(secret, 1_000);
    const mqtt = rotation.listener("mqtt");
    const period = rotation.periodAt(Date.now());
    expect(mqtt.current().equals(ticketKeysFor(secret, "mqtt", period))).toBe(true);
    expect(mqtt.lifetimeSeconds).toBe(1);
    expect(rotation.listener("enroll").sessionIdContext).not.toBe(mqtt.sessionIdContext);
    const applied: Buffer[] = [];
    const stop = mqtt.onRotate((keys) => applied.push(keys));
    rotation.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000 - (Date.now() % 1_000) + 150));
      expect(applied.map((k) => k.toString("hex"))).toEqual([
        ticketKeysFor(secret, "mqtt", period + 1).toString("hex"),
      ]);
      expect(mqtt.current().equals(applied[0]!)).toBe(true);
      stop();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(applied).toHaveLength(1);
    } finally {
      rotation.stop();
    }
  });
});
