import { Pkcs11KeyError } from "./errors.js";

export interface SessionFactory<S> {
  open(): S;
  close(session: S): void;
  /** True when an error thrown by work on a session means the session must not be used again. */
  isFault(error: unknown): boolean;
}

interface Waiter<S> {
  resolve(session: S): void;
  reject(error: unknown): void;
}

/**
 * At most `size` sessions, each lent to one piece of work at a time: a PKCS#11 session holds one active
 * operation (C_SignInit … C_Sign), so two signatures on one session would interleave and fail or, worse,
 * sign the wrong digest. Sessions open lazily, work beyond `size` waits in FIFO order, and close() lets
 * what was already asked for finish before it closes the sessions.
 */
export class SessionPool<S> {
  private readonly idle: S[] = [];
  private readonly waiters: Waiter<S>[] = [];
  private count = 0;
  private closing: Promise<void> | null = null;
  private finishClose: ((error?: unknown) => void) | null = null;
  private beforeClose: ((session: S) => void) | null = null;

  constructor(
    private readonly size: number,
    private readonly factory: SessionFactory<S>,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`a session pool needs 1 session or more (${size})`);
  }

  async use<T>(work: (session: S) => Promise<T> | T): Promise<T> {
    const session = await this.acquire();
    let fault = false;
    try {
      return await work(session);
    } catch (error) {
      fault = this.factory.isFault(error);
      throw error;
    } finally {
      this.release(session, fault);
    }
  }

  /**
   * Waits for the work already started or queued, runs `beforeClose` on one open session if there is
   * one (the place for C_Logout, which needs a session), then closes every session.
   */
  close(beforeClose?: (session: S) => void): Promise<void> {
    if (this.closing === null) {
      this.beforeClose = beforeClose ?? null;
      this.closing = new Promise((resolve, reject) => {
        this.finishClose = (error) => (error === undefined ? resolve() : reject(asError(error)));
      });
      this.closeIfIdle();
    }
    return this.closing;
  }

  private acquire(): Promise<S> {
    if (this.closing !== null) return Promise.reject(closedError());
    const session = this.idle.pop();
    if (session !== undefined) return Promise.resolve(session);
    if (this.count < this.size) return Promise.resolve(this.openOne());
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private openOne(): S {
    const session = this.factory.open();
    this.count++;
    return session;
  }

  private release(session: S, fault: boolean): void {
    if (fault) {
      // A dead session mostly means a token that went away or restarted: the idle ones died with it.
      this.discard(session);
      for (const other of this.idle.splice(0)) this.discard(other);
    } else {
      const next = this.waiters.shift();
      if (next !== undefined) return next.resolve(session);
      this.idle.push(session);
    }
    this.serveWaitersWithNewSessions();
    this.closeIfIdle();
  }

  private serveWaitersWithNewSessions(): void {
    while (this.waiters.length > 0 && this.count < this.size) {
      const waiter = this.waiters.shift()!;
      try {
        waiter.resolve(this.openOne());
      } catch (error) {
        waiter.reject(error);
      }
    }
  }

  private discard(session: S): void {
    this.count--;
    try {
      this.factory.close(session);
    } catch {
      // Closing a session that is already dead fails too; it is gone either way.
    }
  }

  private closeIfIdle(): void {
    if (this.finishClose === null || this.waiters.length > 0 || this.count > this.idle.length) return;
    const finish = this.finishClose;
    this.finishClose = null;
    const sessions = this.idle.splice(0);
    let failure: unknown = undefined;
    try {
      if (sessions[0] !== undefined) this.beforeClose?.(sessions[0]);
    } catch (error) {
      failure = error ?? new Error("closing the session pool failed");
    }
    for (const session of sessions) this.discard(session);
    finish(failure);
  }
}

function closedError(): Pkcs11KeyError {
  return new Pkcs11KeyError("PKCS11_CLOSED", "the PKCS#11 token was closed; no more signatures can be made with it");
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
