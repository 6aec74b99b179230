import type { Socket } from "node:net";
import type { MqttDenial } from "../../domain/mqtt-refusals.js";
import { KeyedTokenBucket, type RateSpec } from "../../domain/token-bucket.js";

export interface GateLimits {
  readonly maxConnections: number;
  readonly maxPending: number;
  readonly maxPendingPerAddress: number;
  readonly connectRatePerAddress: RateSpec;
}

type Endpoints = Pick<Socket, "remoteAddress" | "remotePort" | "localAddress" | "localPort">;

/**
 * A connection identified the same way before TLS (raw socket) and after (TLS socket): by both of its
 * ends, the one thing two live TCP connections never share. The client end alone is not enough on a
 * server listening on several addresses (0.0.0.0, the default): one client port may reach each of
 * them at once, and those connections would count once and, closing, take each other's state along.
 */
export function connectionKey(socket: Endpoints): string {
  const local = `${socket.localAddress ?? "?"}:${socket.localPort ?? 0}`;
  return `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}>${local}`;
}

/**
 * Admission control on raw TCP connections, before any TLS work. Connections not yet admitted (in the
 * TLS handshake, or waiting for CONNECT / CONNACK) are bounded in total and per source address,
 * separately from admitted ones: sockets that never finish their handshake cannot use up the room of
 * enrolled devices. Everything it holds is keyed by live connections, so it is bounded by them.
 */
export class ConnectionGate {
  private readonly open = new Set<string>();
  private readonly pending = new Map<string, string>(); // connection key → address
  private readonly pendingByAddress = new Map<string, number>();
  private readonly buckets: KeyedTokenBucket;

  constructor(private readonly limits: GateLimits) {
    this.buckets = new KeyedTokenBucket(limits.connectRatePerAddress);
  }

  /** Null when the connection may proceed (it is then pending), else why it is refused. */
  accept(socket: Socket, now: number): MqttDenial | null {
    const address = socket.remoteAddress ?? "unknown";
    if (this.open.size >= this.limits.maxConnections) return "connection_limit_reached";
    if (this.pending.size >= this.limits.maxPending) return "pending_limit_reached";
    if ((this.pendingByAddress.get(address) ?? 0) >= this.limits.maxPendingPerAddress) return "pending_limit_reached";
    if (!this.buckets.take(address, now)) return "connection_rate_exceeded";
    const key = connectionKey(socket);
    this.open.add(key);
    this.pending.set(key, address);
    this.pendingByAddress.set(address, (this.pendingByAddress.get(address) ?? 0) + 1);
    return null;
  }

  /** The connection was admitted (CONNACK 0): it no longer counts as pending. True if it was pending. */
  admitted(key: string): boolean {
    const address = this.pending.get(key);
    if (address === undefined) return false;
    this.pending.delete(key);
    const left = (this.pendingByAddress.get(address) ?? 1) - 1;
    if (left > 0) this.pendingByAddress.set(address, left);
    else this.pendingByAddress.delete(address);
    return true;
  }

  /** True if the connection was still pending. */
  closed(key: string): boolean {
    const wasPending = this.admitted(key);
    this.open.delete(key);
    return wasPending;
  }

  get openCount(): number {
    return this.open.size;
  }

  get pendingCount(): number {
    return this.pending.size;
  }
}
