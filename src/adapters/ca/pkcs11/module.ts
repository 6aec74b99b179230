import { resolve } from "node:path";
import pkcs11js from "pkcs11js";
import { isCkr, operationFailed } from "./ckr.js";
import { Pkcs11KeyError } from "./errors.js";

/**
 * A PKCS#11 module is process-wide state: C_Initialize may run once per process and C_Finalize ends
 * every session of every caller, and a login is shared by all sessions of the process on that token
 * (PKCS#11 2.40 §5.6: the user is logged in to a token, not to a session). So modules are loaded once
 * per path and counted, and so are the users of each token, so that the last one to leave logs out
 * and finalizes, and no one pulls the module from under another.
 */
export interface SlotUse {
  users: number;
  /**
   * HMAC of the PIN this process logged in with, null before: a second user of a token that is already
   * logged in gets no C_Login, so its PIN is checked against this instead of being taken on trust.
   */
  loggedInWith: Buffer | null;
}

export interface LoadedModule {
  readonly path: string;
  readonly p11: pkcs11js.PKCS11;
  /** Counts a user of the token in `slot`; the record is shared by all of them. */
  claimSlot(slot: Buffer): SlotUse;
  /** Uncounts it; true for the last one (the one that must log out). */
  releaseSlot(slot: Buffer): boolean;
  /** Drops this reference; the last one finalizes and unloads the module. */
  release(): void;
}

interface Entry {
  readonly p11: pkcs11js.PKCS11;
  /** False when someone else in the process initialized it: then finalizing is theirs too. */
  readonly ownsInitialization: boolean;
  references: number;
  readonly slots: Map<string, SlotUse>;
}

const modules = new Map<string, Entry>();

export function acquireModule(libraryPath: string): LoadedModule {
  const path = resolve(libraryPath);
  let entry = modules.get(path);
  if (entry === undefined) {
    entry = initialize(path);
    modules.set(path, entry);
  }
  entry.references++;
  return handle(path, entry);
}

function initialize(path: string): Entry {
  const p11 = new pkcs11js.PKCS11();
  try {
    p11.load(path);
  } catch (error) {
    const reason = (error as Error).message;
    throw new Pkcs11KeyError(
      "PKCS11_MODULE_LOAD_FAILED",
      `cannot load the PKCS#11 module ${path} (pkcs11.module): ${reason}`,
      { cause: error },
    );
  }
  // Signatures run on libuv's worker threads (C_SignAsync): the module must lock for itself.
  let ownsInitialization = true;
  try {
    p11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    if (!isCkr(error, pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
      p11.close();
      throw operationFailed(`initialization of module ${path}`, error);
    }
    ownsInitialization = false;
  }
  return { p11, ownsInitialization, references: 0, slots: new Map() };
}

function handle(path: string, entry: Entry): LoadedModule {
  let released = false;
  return {
    path,
    p11: entry.p11,
    claimSlot(slot) {
      const key = slot.toString("hex");
      const use = entry.slots.get(key) ?? { users: 0, loggedInWith: null };
      use.users++;
      entry.slots.set(key, use);
      return use;
    },
    releaseSlot(slot) {
      const key = slot.toString("hex");
      const use = entry.slots.get(key);
      if (use === undefined || --use.users > 0) return use === undefined;
      entry.slots.delete(key);
      return true;
    },
    release() {
      if (released) return;
      released = true;
      if (--entry.references > 0) return;
      modules.delete(path);
      try {
        if (entry.ownsInitialization) entry.p11.C_Finalize();
      } finally {
        entry.p11.close();
      }
    },
  };
}
