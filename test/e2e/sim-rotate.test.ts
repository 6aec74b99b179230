import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fleetAdmin } from "../../device-sim/admin.js";
import { runFleet } from "../../device-sim/fleet.js";
import type { FleetReport } from "../../device-sim/report.js";
import { startTestFleetgate, type TestFleetgate } from "../helpers/fleetgate.js";

/**
 * Story: a fleet with short-lived certificates runs; mid-run the operator rotates the issuing CA
 * (`fleetgate ca rotate`, one step, then the server's PKI reload). Every device renews onto the new CA
 * over simplereenroll with its old-CA certificate, none is refused, no telemetry is lost.
 */
const DEVICES = 10;

describe("rotate scenario against a real server", () => {
  let fg: TestFleetgate;
  let stateDir: string;
  let report: FleetReport;

  beforeAll(async () => {
    // 12 s certificates: renewed 7.2–8.8 s after issue, after the rotation at 4 s.
    fg = await startTestFleetgate({
      profiles: { device: { role: "device", lifetime: "12s" }, service: { role: "service", lifetime: "1h" } },
    });
    stateDir = mkdtempSync(join(tmpdir(), "fleetgate-sim-rotate-"));
    const admin = fleetAdmin(fg.config, { prefix: "rot-", devices: DEVICES });
    report = await runFleet({
      devices: DEVICES,
      prefix: "rot-",
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
      scenario: "rotate",
      rampMs: 1_000,
      durationMs: 14_000,
      rotate: { atMs: 4_000, rotateCa: admin.rotateCa },
    });
  }, 90_000);

  afterAll(async () => {
    await fg?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it("rotates mid-run and every device lands on the new CA, unrefused, losing nothing", () => {
    expect(report.expectations.filter((e) => !e.ok)).toEqual([]);
    expect(report.rotation).toMatchObject({ caId: "ca-2", error: null });
    expect(report.renewals).toBeGreaterThanOrEqual(DEVICES);
    expect(report.refusals).toBe(0);
    expect(report.messages.lost).toBe(0);
    expect(report.ok).toBe(true);
    expect(fg.running.pki.ring.trusted.map((ca) => ca.id)).toEqual(["ca-2", "ca-1"]);
  });

  it("records the new CA as the issuer of every device's active certificate", async () => {
    for (let i = 1; i <= DEVICES; i++) {
      const id = `rot-${String(i).padStart(4, "0")}`;
      const active = (await fg.running.registry.listCertificates(id)).filter((c) => c.status === "active");
      expect(
        active.map((c) => c.issuer),
        id,
      ).toEqual(["ca-2"]);
    }
  });
});
