import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import pkcs11js from "pkcs11js";
import { isCkr, operationFailed } from "./ckr.js";
import { DEFAULT_SESSIONS } from "./config.js";
import { Pkcs11KeyError } from "./errors.js";
import { acquireModule, type LoadedModule, type SlotUse } from "./module.js";
import { SessionPool } from "./session-pool.js";
import { findTokenSlot, loginError, refuseLockedPin } from "./token-slot.js";

/** PKCS#11 2.40 §5.6.2 session states (pkcs11js does not export them). */
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;

/** Keys the PIN HMACs kept for comparison (SlotUse.loggedInWith); never leaves the process. */
const PIN_MAC_KEY = randomBytes(32);

export interface Pkcs11TokenOptions {
  /** Path of the PKCS#11 library (the vendor's .so). */
  readonly module: string;
  /** CKA token label (C_GetTokenInfo().label, without the blank padding). */
  readonly token: string;
  readonly pin: string;
  /** How many sessions, so how many signatures, may be in flight at once. */
  readonly sessions?: number;
}

/**
 * One logged-in token: finds it by label, logs in as the user, lends pooled read-only sessions for
 * signing and a fresh read/write one for key generation. close() waits for the work in flight, logs
 * out (when no other Pkcs11Token of this process still uses the token) and finalizes the module.
 */
export class Pkcs11Token {
  readonly p11: pkcs11js.PKCS11;
  private readonly pool: SessionPool<Buffer>;
  private readonly writers = new Set<Promise<unknown>>();
  private closing: Promise<void> | null = null;
  /** A true private field: util.inspect and JSON.stringify of a token (a logger's) never show it. */
  readonly #pin: string;

  private constructor(
    private readonly module: LoadedModule,
    readonly slot: Buffer,
    private readonly slotUse: SlotUse,
    readonly label: string,
    pin: string,
    sessions: number,
  ) {
    this.p11 = module.p11;
    this.#pin = pin;
    this.pool = new SessionPool(sessions, {
      open: () => this.openSession(pkcs11js.CKF_SERIAL_SESSION),
      close: (session) => this.p11.C_CloseSession(session),
      // After any PKCS#11 error the session's state is unknown (an operation may still be active).
      isFault: (error) => error instanceof pkcs11js.NativeError,
    });
  }

  static async open(options: Pkcs11TokenOptions): Promise<Pkcs11Token> {
    const module = acquireModule(options.module);
    let slot: Buffer | null = null;
    try {
      slot = findTokenSlot(module, options.token);
      refuseLockedPin(module.p11, slot, options.token);
      const slotUse = module.claimSlot(slot);
      const sessions = sessionCount(module.p11, slot, options.sessions ?? DEFAULT_SESSIONS);
      const token = new Pkcs11Token(module, slot, slotUse, options.token, options.pin, sessions);
      // Opening the first session logs in: a wrong PIN fails here, not at the first signature.
      await token.withSession(() => undefined);
      return token;
    } catch (error) {
      if (slot !== null) module.releaseSlot(slot);
      module.release();
      throw error instanceof Pkcs11KeyError ? error : operationFailed(`opening token "${options.token}"`, error);
    }
  }

  /** Runs `work` on a pooled read-only session that nothing else uses meanwhile. */
  async withSession<T>(work: (session: Buffer) => Promise<T> | T): Promise<T> {
    if (this.closing !== null) throw this.closedError();
    return this.pool.use(work);
  }

  /** Runs `work` on a read/write session of its own (creating token objects needs one). */
  async withReadWriteSession<T>(work: (session: Buffer) => Promise<T> | T): Promise<T> {
    if (this.closing !== null) throw this.closedError();
    const run = (async () => {
      const session = this.openSession(pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        return await work(session);
      } finally {
        closeQuietly(this.p11, session);
      }
    })();
    this.writers.add(run);
    try {
      return await run;
    } finally {
      this.writers.delete(run);
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    await Promise.allSettled([...this.writers]);
    const lastUser = this.module.releaseSlot(this.slot);
    try {
      await this.pool.close((session) => {
        if (lastUser) this.logOut(session);
      });
    } finally {
      this.module.release();
    }
  }

  private closedError(): Pkcs11KeyError {
    return new Pkcs11KeyError("PKCS11_CLOSED", `the PKCS#11 token "${this.label}" was closed; it signs nothing more`);
  }

  private openSession(flags: number): Buffer {
    let session: Buffer;
    try {
      session = this.p11.C_OpenSession(this.slot, flags);
    } catch (error) {
      throw operationFailed(`opening a session on token "${this.label}"`, error);
    }
    try {
      this.logIn(session);
      return session;
    } catch (error) {
      closeQuietly(this.p11, session);
      throw error;
    }
  }

  /** Logs in unless the token already is (a login covers every session of the process on that token). */
  private logIn(session: Buffer): void {
    const mac = createHmac("sha256", PIN_MAC_KEY).update(this.#pin).digest();
    const { state } = this.p11.C_GetSessionInfo(session);
    if (state === CKS_RO_USER_FUNCTIONS || state === CKS_RW_USER_FUNCTIONS) {
      const known = this.slotUse.loggedInWith;
      if (known === null || timingSafeEqual(known, mac)) return;
      throw new Pkcs11KeyError(
        "PKCS11_PIN_INCORRECT",
        `the token "${this.label}" is logged in by this process with another PIN than the one given now`,
      );
    }
    try {
      this.p11.C_Login(session, pkcs11js.CKU_USER, this.#pin);
    } catch (error) {
      if (!isCkr(error, pkcs11js.CKR_USER_ALREADY_LOGGED_IN)) throw loginError(this.p11, this.slot, this.label, error);
    }
    this.slotUse.loggedInWith = mac;
  }

  private logOut(session: Buffer): void {
    try {
      this.p11.C_Logout(session);
    } catch (error) {
      if (!isCkr(error, pkcs11js.CKR_USER_NOT_LOGGED_IN))
        throw operationFailed(`logout of token "${this.label}"`, error);
    }
  }
}

/** The wanted pool size, within what the token allows one application (0 or ~0 there: no stated limit). */
function sessionCount(p11: pkcs11js.PKCS11, slot: Buffer, wanted: number): number {
  if (!Number.isInteger(wanted) || wanted < 1) throw new RangeError(`pkcs11 sessions must be 1 or more (${wanted})`);
  const { maxSessionCount } = p11.C_GetTokenInfo(slot);
  // One session stays free for the read/write session key generation opens.
  const limited = maxSessionCount > 1 && maxSessionCount < 0xffff_ffff;
  return limited ? Math.min(wanted, maxSessionCount - 1) : wanted;
}

/** For a session whose work already failed or finished: an error closing it must not mask that outcome. */
function closeQuietly(p11: pkcs11js.PKCS11, session: Buffer): void {
  try {
    p11.C_CloseSession(session);
  } catch {
    // Already closed (the token went away); nothing is left to release.
  }
}
