import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fleetAdmin } from "../../device-sim/admin.js";
import { runFleet, type FleetOptions } from "../../device-sim/fleet.js";
import type { FleetReport } from "../../device-sim/report.js";
import type { FleetEvent } from "../../device-sim/types.js";
import { startTestFleetgate, type TestFleetgate } from "../helpers/fleetgate.js";

/**
 * Story: twenty devices boot for the first time against a real server (on loopback, ephemeral
 * ports), enroll over EST with one group token, publish telemetry, renew their short-lived
 * certificates mid-run and reconnect; an operator revokes three of them through the admin API.
 * Then the same fleet powers on again: a reboot with stored credentials, no enrollment.
 */
const DEVICES = 20;
const REVOKED = 3;

describe("fleet simulator against a real server", () => {
  let fg: TestFleetgate;
  let stateDir: string;
  let first: FleetReport;
  const events: FleetEvent[] = [];

  function fleet(overrides: Partial<FleetOptions>): FleetOptions {
    const admin = fleetAdmin(fg.config, { prefix: "sim-", devices: DEVICES });
    return {
      devices: DEVICES,
      rate: 4,
      endpoints: {
        enrollUrl: fg.enrollUrl,
        mqttHost: "localhost",
        mqttPort: fg.running.ports.mqtt,
        caPem: fg.rootCaPem,
      },
      stateDir,
      token: admin.deviceToken,
      consumer: { token: admin.consumerToken },
      retry: { maxRefusals: 3 },
      ...overrides,
    };
  }

  beforeAll(async () => {
    // 15 s certificates: renewed at two thirds (10 s after issue), inside a 16 s run.
    fg = await startTestFleetgate({
      profiles: { device: { role: "device", lifetime: "15s" }, service: { role: "service", lifetime: "1h" } },
    });
    stateDir = mkdtempSync(join(tmpdir(), "fleetgate-sim-"));
    const admin = fleetAdmin(fg.config, { prefix: "sim-", devices: DEVICES });
    first = await runFleet(
      fleet({
        durationMs: 16_000,
        scenario: "revoke",
        revoke: { count: REVOKED, revokeDevice: admin.revokeDevice },
        onEvent: (e) => events.push(e),
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await fg?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it("enrolls every device on first boot and stores its key privately", () => {
    expect(first.enrolled).toBe(DEVICES);
    expect(first.rebooted).toBe(0);
    expect(first.connected).toBe(DEVICES);
    const folders = readdirSync(stateDir).filter((name) => name.startsWith("sim-0"));
    expect(folders).toHaveLength(DEVICES);
    expect(statSync(join(stateDir, "sim-0001", "key.pem")).mode & 0o777).toBe(0o600);
  });

  it("delivers every message of every device that was not revoked, once and in order", () => {
    expect(first.problems).toEqual([]);
    expect(first.messages.sent).toBeGreaterThan(0);
    expect(first.latencyMs?.count).toBe(first.messages.received);
    const failed = first.expectations.filter((e) => !e.ok);
    expect(failed).toEqual([]);
    expect(first.ok).toBe(true);
  });

  it("renews certificates at two thirds of their lifetime and keeps the sequence going", () => {
    expect(first.renewals).toBeGreaterThanOrEqual(1);
    expect(events.some((e) => e.type === "renewed")).toBe(true);
  });

  it("cuts off each revoked device, which is refused on reconnect and gives up", () => {
    expect(first.revoked).toHaveLength(REVOKED);
    for (const revoked of first.revoked) {
      expect(revoked).toMatchObject({ error: null, cutOff: true, refusedOnReconnect: true, gaveUp: true });
    }
    expect(first.kicksObserved).toBeGreaterThanOrEqual(REVOKED);
    expect(first.gaveUp.map((g) => g.deviceId).sort()).toEqual(first.revoked.map((r) => r.deviceId).sort());
  });

  it("answers commands from the backend", () => {
    const revoked = new Set(first.revoked.map((r) => r.deviceId));
    expect(first.commands.answered).toBeGreaterThanOrEqual(DEVICES - revoked.size);
  });

  it("reboots from stored credentials without enrolling again; revoked devices stay refused", async () => {
    const rebootEvents: FleetEvent[] = [];
    const second = await runFleet(fleet({ durationMs: 3_000, rampMs: 0, onEvent: (e) => rebootEvents.push(e) }));
    expect(second.enrolled).toBe(0);
    expect(second.rebooted).toBe(DEVICES);
    expect(rebootEvents.filter((e) => e.type === "enrolled")).toEqual([]);
    const revoked = new Set(first.revoked.map((r) => r.deviceId));
    expect(second.connected).toBe(DEVICES - revoked.size);
    expect(second.messages.lost).toBe(0);
    // Still revoked: refused again (CONNACK 5), or their certificate has meanwhile expired.
    expect(new Set(second.gaveUp.map((g) => g.deviceId))).toEqual(revoked);
    expect(rebootEvents.filter((e) => e.type === "connected" && revoked.has(e.deviceId))).toEqual([]);
  }, 30_000);

  it("enrolls through the JSON API too", async () => {
    const admin = fleetAdmin(fg.config, { prefix: "json-", devices: 3 });
    const report = await runFleet(
      fleet({ devices: 3, prefix: "json-", token: admin.deviceToken, enrollMethod: "json", durationMs: 1_500 }),
    );
    expect(report).toMatchObject({
      ok: true,
      enrolled: 3,
      connected: 3,
      messages: expect.objectContaining({ lost: 0 }),
    });
    expect(report.messages.received).toBeGreaterThan(0);
  }, 30_000);
});
