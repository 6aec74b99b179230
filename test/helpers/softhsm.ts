import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A private SoftHSM2 for one test file: its own softhsm2.conf and token directory in a temp dir, so
 * files running in parallel never see each other's tokens. SoftHSM2 reads SOFTHSM2_CONF in
 * C_Initialize, so create this before the first Pkcs11Token.open of the file (in beforeAll), and
 * remove() it in afterAll, after every token is closed.
 */
export interface SoftHsm {
  readonly dir: string;
  /** Path of libsofthsm2.so. */
  readonly module: string;
  /** Initializes a new token in the next free slot. */
  initToken(label: string, pins?: { pin?: string; soPin?: string }): SoftHsmToken;
  /** Marks the user PIN locked in the token's stored flags (SoftHSM2 itself never locks a PIN). */
  lockUserPin(label: string): void;
  remove(): void;
}

export interface SoftHsmToken {
  readonly label: string;
  readonly pin: string;
  readonly soPin: string;
}

const MODULE_CANDIDATES = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"];

export function createSoftHsm(): SoftHsm {
  const module = softHsmModule();
  const dir = mkdtempSync(join(tmpdir(), "fleetgate-softhsm-"));
  const tokens = join(dir, "tokens");
  mkdirSync(tokens);
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const previous = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = conf;
  return {
    dir,
    module,
    initToken(label, pins = {}) {
      const token = { label, pin: pins.pin ?? "1234", soPin: pins.soPin ?? "12345678" };
      const args = ["--init-token", "--free", "--label", label, "--pin", token.pin, "--so-pin", token.soPin];
      execFileSync("softhsm2-util", args, { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: "pipe" });
      return token;
    },
    lockUserPin: (label) => setStoredTokenFlag(tokens, label, CKF_USER_PIN_LOCKED),
    remove() {
      if (previous === undefined) delete process.env.SOFTHSM2_CONF;
      else process.env.SOFTHSM2_CONF = previous;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function softHsmModule(): string {
  const found = MODULE_CANDIDATES.find((path) => existsSync(path)) ?? fromDpkg();
  if (found === undefined)
    throw new Error("SoftHSM2 is not installed: apt-get install -y softhsm2 (the PKCS#11 tests need a real token)");
  return found;
}

function fromDpkg(): string | undefined {
  try {
    const files = execFileSync("dpkg", ["-L", "softhsm2", "libsofthsm2"], { encoding: "utf8", stdio: "pipe" });
    return files.split("\n").find((path) => path.endsWith("/libsofthsm2.so") && existsSync(path));
  } catch {
    return undefined;
  }
}

const CKF_USER_PIN_LOCKED = 0x0004_0000n;

/**
 * SoftHSM2's file object store (src/lib/object_store/ObjectFile.cpp) writes token.object as a 64-bit
 * big-endian generation number, then per attribute: type, kind (2 = unsigned long) and value, each
 * 64-bit big-endian. The token flags are the vendor attribute CKA_OS_TOKENFLAGS (0x80000000 + 0x5348 + 3).
 * The generation is bumped too, so that a module already initialized reads the file again.
 */
function setStoredTokenFlag(tokensDir: string, label: string, flag: bigint): void {
  const padded = Buffer.from(label.padEnd(32, " "));
  const path = readdirSync(tokensDir)
    .map((name) => join(tokensDir, name, "token.object"))
    .find((file) => existsSync(file) && readFileSync(file).includes(padded));
  if (path === undefined) throw new Error(`no SoftHSM token labelled ${label}`);
  const object = readFileSync(path);
  const marker = Buffer.alloc(16);
  marker.writeBigUInt64BE(0x8000_534bn, 0);
  marker.writeBigUInt64BE(2n, 8);
  const at = object.indexOf(marker);
  if (at < 0) throw new Error(`no token flags in ${path}`);
  object.writeBigUInt64BE(object.readBigUInt64BE(at + 16) | flag, at + 16);
  object.writeBigUInt64BE(object.readBigUInt64BE(0) + 1n, 0);
  writeFileSync(path, object);
}
