/**
 * One load process of the connections benchmark (started by loader-fleet.ts, talks over the IPC
 * channel): opens its share of idle device sessions from its own source address, holds them (a
 * PINGREQ per session well inside the keep-alive, so the broker never drops an idle one), and closes
 * them all when told. A separate process per share: one Node process cannot drive 100,000 TLS
 * sessions (one core, one heap, one open-file limit).
 */
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type { DeviceCredential } from "./device-credentials.js";
import { runPool } from "./pool.js";
import { PINGREQ, rawConnect, type RawSession, type RawTarget } from "./raw-mqtt.js";

export interface LoaderJob {
  readonly target: RawTarget;
  readonly caPem: string;
  /** JSON lines of DeviceCredential, this loader's share. */
  readonly credentialsFile: string;
  readonly concurrency: number;
}

export type ToLoader = { type: "connect"; job: LoaderJob } | { type: "close" };

export type FromLoader =
  | { type: "ready" }
  | { type: "progress"; connected: number; failed: number }
  | { type: "connected"; connected: number; failed: number; errors: string[]; latenciesMs: number[] }
  | { type: "dropped"; count: number }
  | { type: "closed" };

const send = (message: FromLoader) => process.send?.(message);

const sessions = new Set<RawSession>();
let closing = false;
let dropsPending = 0;

function readCredentials(file: string): DeviceCredential[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as DeviceCredential);
}

/** Pings every session once per `periodMs`, a slice each second, so pings never come in a burst. */
function keepSessionsAlive(periodMs: number): void {
  let cursor: Iterator<RawSession> = sessions.values();
  setInterval(() => {
    const slice = Math.ceil(sessions.size / (periodMs / 1000));
    for (let i = 0; i < slice; i++) {
      let next = cursor.next();
      if (next.done) next = (cursor = sessions.values()).next();
      if (next.done) return;
      next.value.socket.write(PINGREQ);
    }
  }, 1000).unref();
}

async function connectAll(job: LoaderJob): Promise<void> {
  const devices = readCredentials(job.credentialsFile);
  const errors: string[] = [];
  const latenciesMs: number[] = [];
  let failed = 0;
  // From the start (a storm of 100,000 on a busy machine can take an hour), at half the keep-alive:
  // the broker drops a session after 1.5 × keep-alive without a packet.
  keepSessionsAlive((job.target.keepaliveSeconds * 1000) / 2);
  const progress = setInterval(() => send({ type: "progress", connected: sessions.size, failed }), 2000);
  await runPool(devices.length, job.concurrency, async (i) => {
    const device = devices[i]!;
    const context = createSecureContext({ ca: job.caPem, cert: device.certPem, key: device.keyPem });
    try {
      const session = await rawConnect(job.target, device.id, context);
      sessions.add(session);
      latenciesMs.push(session.latencyMs);
      session.socket.once("close", () => onDrop(session));
    } catch (error) {
      failed++;
      if (errors.length < 5) errors.push((error as Error).message);
    }
  });
  clearInterval(progress);
  send({ type: "connected", connected: sessions.size, failed, errors, latenciesMs });
}

/** A session the broker closed while it should be held: reported in batches, the bench counts them. */
function onDrop(session: RawSession): void {
  sessions.delete(session);
  if (closing) return;
  if (dropsPending++ === 0)
    setTimeout(() => {
      send({ type: "dropped", count: dropsPending });
      dropsPending = 0;
    }, 200);
}

function closeAll(): void {
  closing = true;
  for (const session of sessions) session.socket.destroy();
  sessions.clear();
  send({ type: "closed" });
}

process.on("message", (message: ToLoader) => {
  if (message.type === "connect") void connectAll(message.job);
  else closeAll();
});
process.on("disconnect", () => process.exit(0));
send({ type: "ready" });
