/**
 * The connections benchmark's own parts: its minimal MQTT client against a real fleetgate (admitted,
 * answered, refused), and its sizing from host limits. No timing is asserted (benchmarks are scripts).
 */
import fc from "fast-check";
import { createSecureContext } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planConnections, serverConfig } from "../../bench/lib/connections-plan.js";
import type { HostLimits } from "../../bench/lib/host-limits.js";
import { connackCode, connectPacket, PINGREQ, rawConnect } from "../../bench/lib/raw-mqtt.js";
import { parseConfig } from "../../src/config.js";
import { fdBudget, FD_HEADROOM } from "../../src/domain/fd-budget.js";
import { enrollDevice, type EnrolledDevice } from "../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../helpers/fleetgate.js";
import { connectPacket as referenceConnect } from "../helpers/mqtt-kit.js";

describe("raw MQTT client of bench:connections", () => {
  let fg: TestFleetgate;
  let device: EnrolledDevice;

  beforeAll(async () => {
    fg = await startTestFleetgate();
    device = await enrollDevice(fg, "conn-raw-1");
  });
  afterAll(async () => {
    device.cleanup();
    await fg.close();
  });

  const target = () => ({ host: "127.0.0.1", port: fg.running.ports.mqtt, keepaliveSeconds: 3600, timeoutMs: 5000 });
  const context = () => createSecureContext({ ca: fg.rootCaPem, cert: device.certPem, key: device.keyPem });

  it("encodes the same CONNECT as the tests' reference encoder", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9._-]{1,100}$/), fc.integer({ min: 0, max: 65535 }), (id, keepalive) => {
        expect(connectPacket(id, keepalive)).toEqual(referenceConnect(id, { clean: true, keepalive }));
      }),
    );
  });

  it("is admitted by fleetgate and answered while held", async () => {
    const session = await rawConnect(target(), device.id, context());
    const pong = new Promise<Buffer>((resolve) => session.socket.once("data", resolve));
    session.socket.write(PINGREQ);
    expect([...(await pong)]).toEqual([0xd0, 0x00]);
    session.socket.destroy();
  });

  it("rejects with the CONNACK code when fleetgate refuses", async () => {
    await expect(rawConnect(target(), "someone-else", context())).rejects.toThrow(
      /someone-else: CONNACK return code [1-5]/,
    );
    expect(connackCode(Buffer.from([0x20, 0x02, 0x00, 0x00]))).toBe(0);
    expect(connackCode(Buffer.from([0xd0, 0x00]))).toBeNull();
  });
});

const limits = (hard: number): HostLimits => ({
  openFiles: { soft: hard, hard },
  nrOpen: 1_048_576,
  fileMax: null,
  ephemeralPorts: { low: 32768, high: 60999 },
  somaxconn: 4096,
  tcpMemPages: null,
});

describe("bench:connections sizing", () => {
  it("holds what the open-file limit allows, says why, and fleetgate's fd budget then fits", () => {
    const plan = planConnections(100_000, 70, limits(20_000), { limit: 20_000, raised: false });
    expect(plan.connections).toBeLessThan(100_000);
    expect(plan.limitedBy).toMatch(/open-file limit 20000/);
    const config = parseConfig({ dataDir: "/tmp/x", ...serverConfig(plan) });
    const fixed = {
      enroll: config.enroll.maxConnections,
      pki: config.pki.maxConnections,
      admin: config.admin.maxConnections,
      metrics: config.metrics.maxConnections,
    };
    const budget = fdBudget({ limit: 20_000, fixed, mqtt: config.mqtt.maxConnections });
    expect(budget.kind).toBe("fits");
    expect(config.mqtt.maxConnections).toBeGreaterThanOrEqual(plan.connections + plan.extra);
    expect(20_000 - budget.required).toBeLessThan(FD_HEADROOM);
  });

  it("spreads a fleet over load processes and source addresses that each fit", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300_000 }), (requested) => {
        const plan = planConnections(requested, 70, limits(1_000_000), { limit: requested + 1000, raised: true });
        expect(plan.connections).toBe(requested);
        expect(plan.limitedBy).toBeNull();
        expect(plan.loaders.perLoader.reduce((a, b) => a + b, 0)).toBe(requested);
        expect(Math.max(...plan.loaders.perLoader)).toBeLessThanOrEqual(12_500);
        expect(new Set(plan.loaders.addresses).size).toBe(plan.loaders.count);
      }),
    );
  });
});
