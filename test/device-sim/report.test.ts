import { describe, expect, it } from "vitest";
import type { DeviceDeliveries } from "../../device-sim/delivery-log.js";
import { newDeviceRecord, type DeviceRecord } from "../../device-sim/device-record.js";
import { buildReport, type FleetRecording } from "../../device-sim/report.js";

const T0 = 1_700_000_000_000;

function device(id: string, lastSeq: number, extra: Partial<DeviceRecord> = {}): DeviceRecord {
  return {
    ...newDeviceRecord(id),
    bootAt: T0,
    firstBoot: true,
    enrolledAt: T0 + 100,
    firstConnectAttemptAt: T0 + 100,
    firstConnectedAt: T0 + 200,
    connects: 1,
    lastSeq,
    ...extra,
  };
}

/** Deliveries of `seqs`, each taken at T0 + 1000·seq and received `latency` ms later. */
function delivered(seqs: number[], latency = 5): DeviceDeliveries {
  return { seqs, sentAt: seqs.map((s) => T0 + 1000 * s), receivedAt: seqs.map((s) => T0 + 1000 * s + latency) };
}

function recording(overrides: Partial<FleetRecording>): FleetRecording {
  return {
    scenario: "steady",
    startedAt: T0,
    endedAt: T0 + 10_000,
    devices: [],
    deliveries: new Map(),
    malformed: 0,
    revokeRequested: 0,
    revocations: [],
    commands: { sent: new Map(), answered: new Map() },
    consumerDisconnects: 0,
    ...overrides,
  };
}

describe("buildReport", () => {
  it("passes a clean steady run and sums the messages", () => {
    const report = buildReport(
      recording({
        devices: [device("a", 3), device("b", 2)],
        deliveries: new Map([
          ["a", delivered([1, 2, 3])],
          ["b", delivered([1, 2], 7)],
        ]),
      }),
    );
    expect(report.ok).toBe(true);
    expect(report.messages).toMatchObject({ sent: 5, received: 5, lost: 0, duplicated: 0, outOfOrder: 0 });
    expect(report.latencyMs).toEqual({ count: 5, p50: 5, p99: 7, max: 7 });
    expect(report.enrolled).toBe(2);
    expect(report.connected).toBe(2);
    expect(report.bootToFirstDeliveryMs).toEqual({ count: 2, p50: 1005, p99: 1007, max: 1007 });
  });

  it("fails on a lost, duplicated or reordered message of a device that was not revoked", () => {
    const report = buildReport(
      recording({ devices: [device("a", 4)], deliveries: new Map([["a", delivered([1, 3, 2, 3])]]) }),
    );
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      expect.objectContaining({ deviceId: "a", lost: 1, duplicated: 1, outOfOrder: 1 }),
    ]);
    const failed = report.expectations.filter((e) => !e.ok).map((e) => e.name);
    expect(failed).toEqual(["no telemetry lost", "no telemetry duplicated", "telemetry in order"]);
  });

  it("fails when a device that was not revoked gave up or never came online", () => {
    const report = buildReport(
      recording({
        devices: [
          device("a", 0, { firstConnectedAt: null, gaveUp: { at: T0 + 5, reason: "enrollment: 4 refusals in a row" } }),
        ],
      }),
    );
    expect(report.ok).toBe(false);
    expect(report.gaveUp).toEqual([{ deviceId: "a", reason: "enrollment: 4 refusals in a row" }]);
    expect(report.expectations.filter((e) => !e.ok).map((e) => e.name)).toEqual([
      "every device came online",
      "no device gave up",
      "every device delivered telemetry",
    ]);
  });

  describe("revoke scenario", () => {
    const revokedAt = T0 + 4_000;
    const victim = device("v", 5, {
      kicks: [revokedAt + 3],
      refusals: [{ at: revokedAt + 300, stage: "connect", reason: "CONNACK 5" }],
      gaveUp: { at: revokedAt + 2000, reason: "connect: 3 refusals in a row" },
      unacked: [5],
    });
    const base = {
      scenario: "revoke" as const,
      revokeRequested: 1,
      revocations: [{ deviceId: "v", requestedAt: revokedAt, doneAt: revokedAt + 10, error: null }],
    };

    it("passes when the victim was cut off and refused and the others kept publishing", () => {
      const report = buildReport(
        recording({
          ...base,
          devices: [victim, device("a", 6)],
          deliveries: new Map([
            ["v", delivered([1, 2, 3])],
            ["a", delivered([1, 2, 3, 4, 5, 6])],
          ]),
        }),
      );
      expect(report.revoked).toEqual([
        { deviceId: "v", error: null, cutOff: true, cutOffAfterMs: 3, refusedOnReconnect: true, gaveUp: true },
      ]);
      // The victim's lost message 4 does not count against the scenario.
      expect(report.messages.lost).toBe(1);
      expect(report.ok).toBe(true);
    });

    it("fails when the victim was never cut off, or another device went silent after the revocation", () => {
      const untouched = { ...victim, kicks: [], refusals: [] };
      const report = buildReport(
        recording({
          ...base,
          devices: [untouched, device("a", 3)],
          deliveries: new Map([
            ["v", delivered([1, 2, 3, 4])],
            ["a", delivered([1, 2, 3])],
          ]),
        }),
      );
      const failed = report.expectations.filter((e) => !e.ok).map((e) => e.name);
      expect(failed).toEqual([
        "revoked devices were cut off",
        "revoked devices were refused on reconnect",
        "the other devices kept publishing",
      ]);
    });

    it("fails when fewer devices were revoked than asked", () => {
      const report = buildReport(
        recording({
          ...base,
          revokeRequested: 2,
          devices: [victim, device("a", 6)],
          deliveries: new Map([["a", delivered([1, 2, 3, 4, 5, 6])]]),
        }),
      );
      expect(report.expectations.find((e) => e.name === "2 devices revoked")).toMatchObject({
        ok: false,
        detail: "1 revoked",
      });
    });
  });

  describe("renew and rotate scenarios", () => {
    const NEW_CA = "CN=fleetgate Issuing CA 2\nO=fleetgate";
    const rotation = { requestedAt: T0 + 3_000, doneAt: T0 + 3_500, caId: "ca-2", subject: NEW_CA, error: null };
    const renewed = (id: string, at: number, issuer: string) => device(id, 3, { renewals: 1, renewedAt: [at], issuer });
    const deliveries = new Map([
      ["a", delivered([1, 2, 3])],
      ["b", delivered([1, 2, 3])],
    ]);

    it("renew: every device renewed and no renewal refused", () => {
      const ok = buildReport(
        recording({ scenario: "renew", devices: [renewed("a", T0 + 5, "x"), renewed("b", T0 + 6, "x")], deliveries }),
      );
      expect(ok.expectations.filter((e) => !e.ok)).toEqual([]);
      const refused = { at: T0 + 7, stage: "renew" as const, reason: "HTTP 403 certificate_not_active" };
      const bad = buildReport(
        recording({
          scenario: "renew",
          devices: [device("a", 3), renewed("b", T0 + 6, "x")],
          deliveries,
        }),
      );
      expect(bad.expectations.find((e) => e.name === "every device renewed")).toMatchObject({ ok: false, detail: "a" });
      const refusedRun = buildReport(
        recording({
          scenario: "renew",
          devices: [renewed("a", T0 + 5, "x"), { ...renewed("b", T0 + 6, "x"), refusals: [refused] }],
          deliveries,
        }),
      );
      expect(refusedRun.expectations.find((e) => e.name === "no renewal refused")).toMatchObject({
        ok: false,
        detail: "b (HTTP 403 certificate_not_active)",
      });
      expect(refusedRun.renewalRefusals).toBe(1);
    });

    it("rotate: the CA rotated and every device renewed onto it afterwards", () => {
      const ok = buildReport(
        recording({
          scenario: "rotate",
          rotation,
          devices: [renewed("a", T0 + 4_000, NEW_CA), renewed("b", T0 + 5_000, NEW_CA)],
          deliveries,
        }),
      );
      expect(ok.expectations.filter((e) => !e.ok)).toEqual([]);
      expect(ok.rotation).toEqual(rotation);
      const stale = buildReport(
        recording({
          scenario: "rotate",
          rotation,
          // a renewed before the rotation (old CA), b never left the old CA
          devices: [renewed("a", T0 + 1_000, NEW_CA), renewed("b", T0 + 5_000, "CN=fleetgate Issuing CA")],
          deliveries,
        }),
      );
      expect(stale.expectations.find((e) => e.name === "every device renewed onto the new CA")).toMatchObject({
        ok: false,
        detail: "a, b",
      });
      const failed = buildReport(
        recording({
          scenario: "rotate",
          rotation: { ...rotation, caId: null, subject: null, error: "no root key" },
          deliveries,
        }),
      );
      expect(failed.expectations.find((e) => e.name === "the issuing CA rotated")).toMatchObject({
        ok: false,
        detail: "no root key",
      });
    });
  });
});
