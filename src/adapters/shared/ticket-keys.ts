import { hkdfSync, randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import type { SecureContextOptions } from "node:tls";
import { writeNewFile } from "./key-files.js";

/** What tls.Server#setTicketKeys takes: 16 bytes key name, 16 bytes HMAC key, 16 bytes AES key. */
const TICKET_KEY_BYTES = 48;
const SECRET_BYTES = 32;

/**
 * The TLS listeners whose session tickets are shared across nodes. Each has its own keys and its own
 * session id context, so a session made on one listener never resumes on another (an EST session
 * cannot become an MQTT one).
 */
export type TicketListener = "mqtt" | "enroll";

/**
 * Ticket keys of `listener` for rotation period `period`: HKDF-SHA256 (RFC 5869) over the shared secret,
 * with the listener and the period number as `info`. Every node holding the secret derives the same keys
 * for the same period, with no coordination; one derived key says nothing about another period's.
 */
export function ticketKeysFor(secret: Buffer, listener: TicketListener, period: number): Buffer {
  const info = `fleetgate tls session tickets/${listener}/period ${period}`;
  return Buffer.from(hkdfSync("sha256", secret, "fleetgate-ticket-keys-v1", info, TICKET_KEY_BYTES));
}

/**
 * The secret every node derives its ticket keys from: 32 random bytes (hex) in a 0600 file, made on the
 * first start that finds none (O_EXCL, so two nodes starting at once on one data dir agree on one).
 * Anyone holding it can mint tickets the listeners accept, so it is refused when others can read it.
 */
export function loadTicketSecret(path: string): Buffer {
  try {
    writeNewFile(path, `${randomBytes(SECRET_BYTES).toString("hex")}\n`, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0)
    throw new Error(`${path} has mode ${mode.toString(8)}; the ticket secret must be 0600 (chmod 600 ${path})`);
  const secret = Buffer.from(readFileSync(path, "utf8").trim(), "hex");
  if (secret.length < SECRET_BYTES) throw new Error(`${path}: expected ${SECRET_BYTES * 2} hex digits`);
  return secret;
}

/** The ticket keys of one listener at any moment, and a call on every rotation. */
export interface SessionTickets {
  /** The keys of the period now. */
  current(): Buffer;
  /** How long a TLS session may be resumed (seconds): one rotation period. */
  readonly lifetimeSeconds: number;
  /** The TLS session id context (RFC 5246 §7.4.1.2; OpenSSL resumes only a session made with the same). */
  readonly sessionIdContext: string;
  /** `apply(keys)` at the start of every period from now on; returns the unsubscribe. */
  onRotate(apply: (keys: Buffer) => void): () => void;
}

/**
 * A listener's secure-context options for resumption with the shared keys (also on every reload:
 * setSecureContext makes a new context, which would otherwise fall back to the keys of start-up).
 * A resumed session skips the certificate verification (the first handshake's verdict is restored),
 * never admission: MQTT CONNECT and EST renewal judge the certificate's registry state and dates anew.
 */
export function ticketContextOptions(tickets: SessionTickets): SecureContextOptions {
  return {
    ticketKeys: tickets.current(),
    sessionTimeout: tickets.lifetimeSeconds,
    // Node's default context is a hash of process.argv: two nodes started differently would refuse each other's.
    sessionIdContext: tickets.sessionIdContext,
  };
}

/**
 * Ticket keys rotated every `periodMs`, the periods counted from the Unix epoch so that every node is in
 * the same period at the same time (give or take clock skew). Node's TLS server holds exactly one ticket
 * key (setTicketKeys takes 48 bytes, and a ticket under any other key name is discarded), so a ticket is
 * accepted until the end of the period it was issued in: after a rotation the device does one full
 * handshake and gets a ticket under the new key.
 */
export class TicketKeyRotation {
  private readonly appliers = new Map<TicketListener, Set<(keys: Buffer) => void>>();
  private timer: NodeJS.Timeout | undefined;
  private period: number;

  constructor(
    private readonly secret: Buffer,
    readonly periodMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.period = this.periodAt(now());
  }

  periodAt(ms: number): number {
    return Math.floor(ms / this.periodMs);
  }

  /** The tickets of one listener (a session lives one period: OpenSSL refuses older ones itself). */
  listener(listener: TicketListener): SessionTickets {
    const appliers = this.appliers.get(listener) ?? new Set();
    this.appliers.set(listener, appliers);
    return {
      current: () => ticketKeysFor(this.secret, listener, this.period),
      lifetimeSeconds: Math.max(1, Math.ceil(this.periodMs / 1000)),
      sessionIdContext: `fleetgate-${listener}`,
      onRotate: (apply) => {
        appliers.add(apply);
        return () => appliers.delete(apply);
      },
    };
  }

  /** Schedules the rotations (an unref'd timer: it never keeps the process alive). */
  start(): void {
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    const next = (this.periodAt(this.now()) + 1) * this.periodMs;
    this.timer = setTimeout(() => this.rotate(), Math.max(0, next - this.now()));
    this.timer.unref();
  }

  /** Applies the period now, if it moved on (a timer may fire a little early), and schedules the next. */
  private rotate(): void {
    const period = this.periodAt(this.now());
    if (period !== this.period) {
      this.period = period;
      for (const [listener, appliers] of this.appliers) {
        const keys = ticketKeysFor(this.secret, listener, period);
        for (const apply of appliers) apply(keys);
      }
    }
    this.schedule();
  }
}
