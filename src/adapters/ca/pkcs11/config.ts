import { readFileSync, statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { z } from "zod";
import { Pkcs11KeyError } from "./errors.js";

/** The environment variable holding the user PIN; the other source is the file `pkcs11.pinFile`. */
export const PKCS11_PIN_ENV = "FLEETGATE_PKCS11_PIN";

/**
 * C_SignAsync runs on libuv's worker pool, 4 threads unless UV_THREADPOOL_SIZE says otherwise: more
 * sessions than threads would only queue there, and crowd out the fs and DNS work that shares the pool.
 */
export const DEFAULT_SESSIONS = 4;

/** PKCS#11 2.40 §3.2: CK_TOKEN_INFO.label is 32 bytes of UTF-8, blank padded. */
const TOKEN_LABEL_BYTES = 32;

/**
 * `pkcs11` in fleetgate.json: where the CA key lives when it is in an HSM. The PIN is deliberately not
 * a field: fleetgate.json is readable config that gets copied and pasted into tickets, so a `pin` key is
 * refused with a pointer to the two places a PIN may come from.
 */
export const Pkcs11ConfigSchema = z.preprocess(
  refusePinField,
  z.strictObject({
    // Absolute: a bare name would be searched along LD_LIBRARY_PATH, and a relative one depends on the cwd.
    module: z.string().refine(isAbsolute, "expected the absolute path of the PKCS#11 library (.so)"),
    token: z
      .string()
      .min(1)
      .refine((label) => Buffer.byteLength(label) <= TOKEN_LABEL_BYTES, "a token label is at most 32 bytes"),
    keyLabel: z.string().min(1),
    pinFile: z.string().min(1).optional(),
    sessions: z.number().int().min(1).max(64).default(DEFAULT_SESSIONS),
  }),
);

export type Pkcs11Config = z.output<typeof Pkcs11ConfigSchema>;
export type Pkcs11ConfigInput = z.input<typeof Pkcs11ConfigSchema>;

function refusePinField(value: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof value === "object" && value !== null && "pin" in value) {
    ctx.addIssue({
      code: "custom",
      message: `the PIN is never read from fleetgate.json: set ${PKCS11_PIN_ENV} or pkcs11.pinFile`,
    });
    return z.NEVER;
  }
  return value;
}

/**
 * The user PIN: FLEETGATE_PKCS11_PIN when set (like every FLEETGATE_* variable, it beats the file),
 * else the content of pkcs11.pinFile without its final newline. A pin file that its group or others
 * may read is refused, as a private key file is: the PIN opens the CA key to whoever has it.
 */
export function readPkcs11Pin(config: Pick<Pkcs11Config, "pinFile">, env: NodeJS.ProcessEnv): string {
  const fromEnv = env[PKCS11_PIN_ENV];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  if (config.pinFile === undefined)
    throw new Pkcs11KeyError(
      "PKCS11_PIN_MISSING",
      `no PIN for the PKCS#11 token: set ${PKCS11_PIN_ENV} or pkcs11.pinFile`,
    );
  const pin = readPinFile(config.pinFile).replace(/\r?\n$/, "");
  if (pin === "") throw new Pkcs11KeyError("PKCS11_PIN_MISSING", `the PIN file ${config.pinFile} is empty`);
  return pin;
}

function readPinFile(path: string): string {
  let mode: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new Pkcs11KeyError("PKCS11_PIN_MISSING", `the PIN file ${path} is not a regular file`);
    mode = stat.mode & 0o777;
  } catch (error) {
    if (error instanceof Pkcs11KeyError) throw error;
    throw new Pkcs11KeyError(
      "PKCS11_PIN_MISSING",
      `cannot read the PIN file ${path} (pkcs11.pinFile): ${String(error)}`,
    );
  }
  if ((mode & 0o077) !== 0)
    throw new Pkcs11KeyError(
      "PKCS11_PIN_FILE_INSECURE",
      `the PIN file ${path} has mode ${mode.toString(8).padStart(4, "0")}; it must be 0600 (chmod 600 ${path})`,
    );
  return readFileSync(path, "utf8");
}
