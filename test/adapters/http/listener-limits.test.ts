import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ERROR_CATALOGUE } from "../../../src/domain/errors.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { bodyOf, connected, rawTcp, rawTls, statusOf, type Closed } from "../../helpers/raw-sockets.js";

/**
 * Every HTTP(S) listener closes what stalls: a TLS connection that never finishes its handshake, a
 * request whose headers never end, an idle kept-alive connection; and it holds at most
 * `maxConnections` connections. Real sockets, driven by hand.
 */
type Service = "enroll" | "admin" | "pki" | "metrics";
const TLS: readonly Service[] = ["enroll", "admin"];
const ALL: readonly Service[] = ["enroll", "admin", "pki", "metrics"];
const HOST = { host: "127.0.0.1", port: 0 };
/** What each listener answers a plain GET with (admin: 401, no operator certificate). */
const PROBE: Readonly<Record<Service, { path: string; status: number }>> = {
  enroll: { path: "/.well-known/est/cacerts", status: 200 },
  admin: { path: "/v1/devices", status: 401 },
  pki: { path: "/ca/root-ca.crt", status: 200 },
  metrics: { path: "/healthz", status: 200 },
};

function closedCount(fg: TestFleetgate, service: Service, reason: string): Promise<number> {
  return fg.running.metrics.httpConnectionsClosed
    .get()
    .then((m) => m.values.find((v) => v.labels.service === service && v.labels.reason === reason)?.value ?? 0);
}

/** One request, `Connection: close`, over TLS or TCP as the listener speaks. */
function request(fg: TestFleetgate, service: Service, payload: string): Promise<Closed> {
  const port = fg.running.ports[service];
  return TLS.includes(service) ? rawTls(port, { ca: fg.rootCaPem }, payload).closed : rawTcp(port, payload).closed;
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`;

describe("listener timeouts", { timeout: 60_000 }, () => {
  let fg: TestFleetgate;
  const short = { handshakeTimeout: "300ms", headersTimeout: "400ms", requestTimeout: "2s", keepAliveTimeout: "300ms" };
  beforeAll(async () => {
    const { handshakeTimeout: _tlsOnly, ...plain } = short;
    fg = await startTestFleetgate({
      enroll: { ...HOST, ...short },
      admin: { ...HOST, ...short },
      pki: { ...HOST, ...plain },
      metrics: { ...HOST, ...plain },
    });
  });
  afterAll(async () => fg?.close());

  it.each(TLS)(
    "%s: a TCP client that never starts its TLS handshake is closed at handshakeTimeout",
    async (service) => {
      const before = await closedCount(fg, service, "handshake_timeout");
      const closed = await rawTcp(fg.running.ports[service]).closed;
      expect(closed.received).toBe("");
      expect(closed.afterMs).toBeGreaterThanOrEqual(250); // by the timeout, not at once
      expect(await closedCount(fg, service, "handshake_timeout")).toBe(before + 1);
    },
  );

  it.each(TLS)("%s: a TLS client that sends half a ClientHello is closed at handshakeTimeout", async (service) => {
    // The first bytes of a TLS record header (handshake, TLS 1.0 record version), then silence.
    const closed = await rawTcp(fg.running.ports[service], "\x16\x03\x01\x00").closed;
    expect(closed.received).toBe("");
    expect(closed.afterMs).toBeGreaterThanOrEqual(250);
  });

  it.each(ALL)("%s: headers that never end are answered 408 request_timeout, then closed", async (service) => {
    const before = await closedCount(fg, service, "request_timeout");
    const closed = await request(fg, service, "GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ");
    expect(statusOf(closed.received)).toBe(408);
    expect(bodyOf(closed.received)).toEqual({
      code: "request_timeout",
      message: ERROR_CATALOGUE.request_timeout.message,
    });
    expect(closed.afterMs).toBeGreaterThanOrEqual(350);
    expect(await closedCount(fg, service, "request_timeout")).toBe(before + 1);
  });

  it.each(ALL)("%s: an idle kept-alive connection is closed at keepAliveTimeout", async (service) => {
    const payload = `GET ${PROBE[service].path} HTTP/1.1\r\nHost: localhost\r\n\r\n`; // keep-alive
    const closed = await request(fg, service, payload);
    expect(statusOf(closed.received)).toBe(PROBE[service].status);
    expect(closed.afterMs).toBeGreaterThanOrEqual(250);
  });
});

describe("listener connection caps", { timeout: 60_000 }, () => {
  let fg: TestFleetgate;
  const CAP = 3;
  beforeAll(async () => {
    const capped = { ...HOST, maxConnections: CAP };
    fg = await startTestFleetgate({ enroll: capped, admin: capped, pki: capped, metrics: capped });
  });
  afterAll(async () => fg?.close());

  it.each(ALL)("%s: connection N+1 is closed at once; a freed slot serves again", async (service) => {
    const port = fg.running.ports[service];
    const held = Array.from({ length: CAP }, () => rawTcp(port));
    try {
      // The server accepts in arrival order: these are in before the next one is looked at.
      for (const { socket } of held) await connected(socket);
      const before = await closedCount(fg, service, "connection_limit");
      const extra = await rawTcp(port).closed;
      expect(extra.received).toBe("");
      expect(await closedCount(fg, service, "connection_limit")).toBe(before + 1);
      // Still refused while the cap is full: a real request gets nothing.
      expect((await request(fg, service, get(PROBE[service].path))).received).toBe("");

      held[0]!.socket.destroy();
      await vi.waitFor(
        async () =>
          expect(statusOf((await request(fg, service, get(PROBE[service].path))).received)).toBe(PROBE[service].status),
        { timeout: 10_000, interval: 100 },
      );
    } finally {
      for (const { socket } of held) socket.destroy();
    }
  });
});
