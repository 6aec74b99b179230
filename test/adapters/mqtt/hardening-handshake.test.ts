import { createServer, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigInput } from "../../../src/config.js";
import { connectDevice, enrollDevice, trackedConnections, type EnrolledDevice } from "../../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { openTcp, openTls, type Wire } from "../../helpers/mqtt-bytes.js";
import { eventually, metricValue, waitForLogs } from "../../helpers/mqtt-kit.js";

/*
 * Hardening, break 1 ("handshake leak"). Promises protected here:
 *  - a socket that never finishes its TLS handshake is closed at mqtt.handshakeTimeout, and one that
 *    finishes it but never sends CONNECT at the same timeout; the connection gauges go back down.
 *    Pre-fix (2cd67a4 broker.ts onHandshakeFailure only logged), Node emitted the timeout and left
 *    the socket open for good, and there was no fleetgate_mqtt_pending_connections gauge at all;
 *  - connections not yet admitted are capped per source address (mqtt.maxPendingPerAddress) and in
 *    total (mqtt.maxPendingConnections), so idle sockets use up at most that share of
 *    mqtt.maxConnections, which still caps everything. Pre-fix only maxConnections existed: idle
 *    sockets could take every slot and lock enrolled devices out.
 */

function fixture(mqtt: NonNullable<ConfigInput["mqtt"]>, devices: string[]) {
  const state = {} as { fg: TestFleetgate; devs: Map<string, EnrolledDevice> };
  const tracked = trackedConnections(() => state.fg);
  const { clients } = tracked;
  const connect = (device: EnrolledDevice) => tracked.connect(device);
  const raw: Wire[] = [];
  beforeAll(async () => {
    state.fg = await startTestFleetgate({ mqtt: { host: "127.0.0.1", port: 0, ...mqtt } });
    const enrolled = await Promise.all(devices.map((id) => enrollDevice(state.fg, id)));
    state.devs = new Map(enrolled.map((d) => [d.id, d]));
  });
  afterAll(async () => {
    for (const wire of raw) wire.close();
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await state.fg?.close();
    for (const device of state.devs?.values() ?? []) device.cleanup();
  });
  const gauges = async () => ({
    connections: await metricValue(state.fg, "fleetgate_mqtt_connections"),
    pending: await metricValue(state.fg, "fleetgate_mqtt_pending_connections"),
  });
  const tcp = async (localAddress?: string, host?: string, localPort?: number) => {
    const wire = await openTcp(state.fg.running.ports.mqtt, localAddress, host, localPort);
    raw.push(wire);
    return wire;
  };
  return { state, connect, gauges, tcp, dev: (id: string) => state.devs.get(id)! };
}

/** The first 9 bytes of a TLS 1.2/1.3 ClientHello record: record header, handshake type 1, a length. */
const PARTIAL_CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00, 0xfc]);

describe("mqtt.handshakeTimeout = 1 s", () => {
  const { state, gauges, tcp, connect, dev } = fixture({ handshakeTimeout: 1000 }, ["dev-1"]);

  it("closes sockets that send nothing, half a ClientHello, a trickle, or no CONNECT after the handshake", async () => {
    const timeouts = await metricValue(state.fg, "fleetgate_mqtt_handshake_failures_total", { reason: "timeout" });
    const started = Date.now();
    const silent = await tcp();
    const partial = await tcp();
    partial.send(PARTIAL_CLIENT_HELLO);
    const trickle = await tcp();
    let sent = 0;
    const dripping = setInterval(() => {
      if (!trickle.isClosed() && sent < PARTIAL_CLIENT_HELLO.length)
        trickle.send(PARTIAL_CLIENT_HELLO.subarray(sent, ++sent));
    }, 150);
    // A complete mTLS handshake with an enrolled device's certificate, then silence (no CONNECT).
    const noConnect = await openTls(state.fg, state.fg.running.ports.mqtt, dev("dev-1"));
    await eventually(async () => (await gauges()).pending === 4, "4 pending connections");
    expect(await gauges()).toEqual({ connections: 4, pending: 4 });

    const closedAt = await Promise.all([silent, partial, trickle, noConnect].map((wire) => wire.closed));
    clearInterval(dripping);
    console.log(
      `handshakeTimeout 1000 ms: closed after ${closedAt.map((at) => at - started).join(", ")} ms ` +
        "(silent, partial ClientHello, trickle, TLS done but no CONNECT)",
    );
    await eventually(async () => (await gauges()).connections === 0, "the connection gauge back to 0");
    expect(await gauges()).toEqual({ connections: 0, pending: 0 });
    expect(
      await metricValue(state.fg, "fleetgate_mqtt_handshake_failures_total", { reason: "timeout" }),
    ).toBeGreaterThanOrEqual(timeouts + 3);
    await waitForLogs(state.fg, { msg: "TLS handshake failed", reason: "timeout" }, 3);

    // Nothing was left behind: a device connects and is no longer pending once admitted.
    const client = await connect(dev("dev-1"));
    await client.publishAsync("devices/dev-1/telemetry", "after the timeouts", { qos: 1 });
    expect(await gauges()).toEqual({ connections: 1, pending: 0 });
  });
});

describe("pending connections: maxPendingPerAddress 2, maxPendingConnections 3, maxConnections 6", () => {
  // A long handshake timeout: the idle sockets stay until the test closes them.
  const ids = ["dev-1", "dev-2", "dev-3", "dev-4", "dev-5"];
  const { state, gauges, tcp, connect, dev } = fixture(
    { handshakeTimeout: 60_000, maxPendingPerAddress: 2, maxPendingConnections: 3, maxConnections: 6 },
    ids,
  );
  const denied = (reason: string) => metricValue(state.fg, "fleetgate_mqtt_denials_total", { reason });

  /** Opens a raw TCP connection from `from` and reports whether the gate kept it (refused ones close at once). */
  async function idleFrom(from: string): Promise<{ wire: Wire; kept: boolean }> {
    const refusedBefore = (await denied("pending_limit_reached")) + (await denied("connection_limit_reached"));
    const wire = await tcp(from);
    await eventually(
      async () =>
        wire.isClosed() ||
        (await gauges()).connections > 0 ||
        (await denied("pending_limit_reached")) + (await denied("connection_limit_reached")) > refusedBefore,
      "the gate's decision",
    );
    // A refused socket is destroyed in the same tick the server accepts it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { wire, kept: !wire.isClosed() };
  }

  it("idle sockets take at most their share; admitted sessions keep working; maxConnections caps all", async () => {
    const dev1 = await connect(dev("dev-1"));
    expect(await gauges()).toEqual({ connections: 1, pending: 0 });

    // 127.0.0.2 may hold two idle sockets, not three.
    const a = [await idleFrom("127.0.0.2"), await idleFrom("127.0.0.2"), await idleFrom("127.0.0.2")];
    expect(a.map((s) => s.kept)).toEqual([true, true, false]);
    expect(await gauges()).toEqual({ connections: 3, pending: 2 });

    // Another address is not held up by 127.0.0.2's sockets: dev-2 connects and is admitted.
    const dev2 = await connect(dev("dev-2"));
    expect(await gauges()).toEqual({ connections: 4, pending: 2 });

    // 127.0.0.3 gets the last pending slot; after that no connection may start its handshake.
    const b = [await idleFrom("127.0.0.3"), await idleFrom("127.0.0.3")];
    expect(b.map((s) => s.kept)).toEqual([true, false]);
    expect(await gauges()).toEqual({ connections: 5, pending: 3 });
    await expect(connectDevice(state.fg, dev("dev-3"))).rejects.toMatchObject({ code: "ECONNRESET" });
    expect(await denied("pending_limit_reached")).toBe(3);

    // The admitted sessions are not affected by the pending sockets (a QoS 1 round trip each).
    await dev1.publishAsync("devices/dev-1/telemetry", "still here", { qos: 1 });
    await dev2.publishAsync("devices/dev-2/telemetry", "still here", { qos: 1 });
    expect(dev1.connected && dev2.connected).toBe(true);

    // Once the idle sockets go, devices connect again, up to maxConnections for everything.
    for (const socket of [...a, ...b]) socket.wire.close();
    await eventually(async () => (await gauges()).pending === 0, "the pending gauge back to 0");
    expect(await gauges()).toEqual({ connections: 2, pending: 0 });
    await connect(dev("dev-3"));
    await connect(dev("dev-4"));
    const c = [await idleFrom("127.0.0.2"), await idleFrom("127.0.0.3")];
    expect(c.map((s) => s.kept)).toEqual([true, true]);
    expect(await gauges()).toEqual({ connections: 6, pending: 2 });
    const deniedFull = await denied("connection_limit_reached");
    await expect(connectDevice(state.fg, dev("dev-5"))).rejects.toMatchObject({ code: "ECONNRESET" });
    expect(await denied("connection_limit_reached")).toBe(deniedFull + 1);
  });
});

/** A free local port to bind several client sockets to (libuv binds with SO_REUSEADDR). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("connections are told apart by their whole address pair (the server listens on every address)", () => {
  // mqtt.host 0.0.0.0, the default: one client address and port can reach 127.0.0.1 and 127.0.0.2 at once.
  const { state, gauges, tcp, connect, dev } = fixture(
    { host: "0.0.0.0", handshakeTimeout: 60_000, maxPendingPerAddress: 2, maxConnections: 2 },
    ["dev-1"],
  );

  it("two connections from one client port to two server addresses count twice and leave nothing behind", async () => {
    for (const round of [1, 2]) {
      const port = await freePort();
      const one = await tcp("127.0.0.1", "127.0.0.1", port);
      const two = await tcp("127.0.0.1", "127.0.0.2", port);
      await eventually(async () => (await gauges()).connections === 2, `round ${round}: two connections`);
      expect(await gauges()).toEqual({ connections: 2, pending: 2 });
      // A third from the same client port: maxConnections (checked first) is reached.
      const before = await metricValue(state.fg, "fleetgate_mqtt_denials_total", {
        reason: "connection_limit_reached",
      });
      const three = await tcp("127.0.0.1", "127.0.0.3", port);
      await three.closed;
      expect(await metricValue(state.fg, "fleetgate_mqtt_denials_total", { reason: "connection_limit_reached" })).toBe(
        before + 1,
      );
      one.close();
      two.close();
      await eventually(async () => (await gauges()).connections === 0, `round ${round}: closed`);
      expect(await gauges()).toEqual({ connections: 0, pending: 0 });
    }
    // The address's pending count went back to zero each time: an enrolled device there still connects.
    const client = await connect(dev("dev-1"));
    expect(client.connected).toBe(true);
    expect(await gauges()).toEqual({ connections: 1, pending: 0 });
  });
});
