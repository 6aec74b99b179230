import type { FastifyPluginAsync } from "fastify";
import type { ServerResponse } from "node:http";
import { FleetgateError } from "../../domain/errors.js";
import type { FleetEvent } from "../../ports.js";
import { securityHeaderList } from "./admin-browser.js";
import { render, type AdminContext } from "./admin-context.js";
import { EVENTS_SCHEMA } from "./admin-schemas.js";

/** Streams open at once (each holds a connection); more is a 429, never an unbounded list. */
export const MAX_EVENT_STREAMS = 32;
/** A client that reads slower than the fleet changes is cut off once this much is waiting for it. */
const MAX_BUFFERED_BYTES = 256 * 1024;
/** A comment line now and then keeps proxies from timing the stream out and finds dead clients. */
const HEARTBEAT_MS = 15_000;

/** One event in the text/event-stream format (WHATWG HTML §9.2): `event:` is the FleetEvent type. */
export function formatEvent(event: FleetEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(render(event))}\n\n`;
}

/**
 * `GET /v1/events`: the FleetEvents published on the bus (sessions opened and closed, devices
 * enrolled, renewed, revoked, reset) as Server-Sent Events, so the console updates without reloading.
 * Lossy by design: a client that reconnects reloads what it shows.
 */
export const eventRoutes: FastifyPluginAsync<AdminContext> = async (app, context) => {
  const open = new Set<() => void>();
  app.addHook("preClose", async () => {
    for (const end of [...open]) end();
  });
  app.get("/v1/events", { schema: EVENTS_SCHEMA }, async (request, reply) => {
    if (open.size >= MAX_EVENT_STREAMS)
      throw new FleetgateError("rate_limited", `${MAX_EVENT_STREAMS} event streams are open already`);
    reply.hijack();
    const res: ServerResponse = reply.raw;
    res.writeHead(200, [
      ...securityHeaderList(),
      ["content-type", "text/event-stream; charset=utf-8"],
      ["cache-control", "no-store"],
    ]);
    // retry: how long a browser waits before reconnecting; the first comment flushes the headers.
    res.write("retry: 2000\n: connected\n\n");
    const write = (chunk: string) => (res.writableLength > MAX_BUFFERED_BYTES ? end() : res.write(chunk));
    const unsubscribe = context.revocation.bus.subscribe((event) => write(formatEvent(event)));
    const heartbeat = setInterval(() => write(": keep-alive\n\n"), HEARTBEAT_MS);
    const end = () => {
      if (!open.delete(end)) return;
      unsubscribe();
      clearInterval(heartbeat);
      res.end();
    };
    open.add(end);
    request.raw.socket.once("close", end);
    res.once("close", end);
  });
};
