/**
 * Per-signature latency of the CA key in SoftHSM2 against the file key, and how long each way of
 * calling the token holds the event loop (the reason Pkcs11IssuerKey uses C_SignAsync):
 *
 *   npx tsx bench/pkcs11-sign.ts [--signatures 2000] [--concurrency 50] [--sessions 4]
 *
 * "sync" signs with a synchronous C_Sign on a pooled session, for comparison only; "async" is what the
 * adapter does. Needs softhsm2 (apt-get install -y softhsm2); everything lives in a temp dir.
 */
import { performance, monitorEventLoopDelay } from "node:perf_hooks";
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import pkcs11js from "pkcs11js";
import { FileIssuerKey } from "../src/adapters/ca/file-issuer-key.js";
import { ecdsaRawToDer } from "../src/adapters/ca/pkcs11/ecdsa-signature.js";
import { Pkcs11IssuerKey } from "../src/adapters/ca/pkcs11/issuer-key.js";
import { generatePkcs11Key } from "../src/adapters/ca/pkcs11/key-generation.js";
import { locatePrivateKey } from "../src/adapters/ca/pkcs11/key-pair.js";
import { Pkcs11Token } from "../src/adapters/ca/pkcs11/token.js";
import { createSoftHsm } from "../test/helpers/softhsm.js";
import { round, summarize } from "./lib/stats.js";

const { values } = parseArgs({
  options: {
    signatures: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "50" },
    sessions: { type: "string", default: "4" },
  },
});
const SIGNATURES = Number(values.signatures);
const CONCURRENCY = Number(values.concurrency);
const TBS = Buffer.alloc(600, 7); // about a device certificate's TBSCertificate

type Sign = (data: Uint8Array) => Promise<Uint8Array>;

/** A synchronous C_Sign on a pooled session: the alternative to C_SignAsync, measured, not used. */
function syncSigner(token: Pkcs11Token, key: Pkcs11IssuerKey): Sign {
  const bytes = key.curve === "P-256" ? 32 : 48;
  const hash = key.algorithm.hash.replace("-", "").toLowerCase();
  return (data) =>
    token.withSession((session) => {
      const handle = locatePrivateKeyCached(token, session, key.label);
      token.p11.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, handle);
      const digest = createHash(hash).update(data).digest();
      return ecdsaRawToDer(token.p11.C_Sign(session, digest, Buffer.alloc(2 * bytes)), bytes);
    });
}

const handles = new Map<string, Buffer>();
function locatePrivateKeyCached(token: Pkcs11Token, session: Buffer, label: string): Buffer {
  let handle = handles.get(label);
  if (handle === undefined)
    handles.set(label, (handle = locatePrivateKey(token.p11, session, token.label, label).handle));
  return handle;
}

async function sequential(sign: Sign): Promise<ReturnType<typeof summarize>> {
  for (let i = 0; i < 50; i++) await sign(TBS); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < SIGNATURES; i++) {
    const start = performance.now();
    await sign(TBS);
    samples.push((performance.now() - start) * 1000);
  }
  return summarize(samples);
}

/**
 * Signatures per second with CONCURRENCY requests in flight, each started from its own turn of the
 * event loop (as requests are), and how late a 1 ms timer ran meanwhile: the time the loop was held.
 */
async function concurrent(sign: Sign): Promise<{ perSecond: number; loopMaxMs: number; loopP99Ms: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const start = performance.now();
  let next = 0;
  const worker = async () => {
    while (next++ < SIGNATURES) {
      await new Promise(setImmediate);
      await sign(TBS);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - start) / 1000;
  histogram.disable();
  return { perSecond: SIGNATURES / seconds, loopMaxMs: histogram.max / 1e6, loopP99Ms: histogram.percentile(99) / 1e6 };
}

async function main(): Promise<void> {
  const hsm = createSoftHsm();
  const spec = hsm.initToken("bench");
  const sessions = Number(values.sessions);
  const token = await Pkcs11Token.open({ module: hsm.module, token: "bench", pin: spec.pin, sessions });
  try {
    const rows: Record<string, unknown>[] = [];
    for (const curve of ["P-256", "P-384"] as const) {
      const hsmKey = await generatePkcs11Key(token, { label: `bench-${curve}`, curve });
      const fileKey = FileIssuerKey.generate(curve).key;
      const ways: [string, Sign][] = [
        ["file key", (data) => fileKey.sign(data)],
        ["softhsm async", (data) => hsmKey.sign(data)],
        ["softhsm sync", syncSigner(token, hsmKey)],
      ];
      for (const [way, sign] of ways) {
        const latency = await sequential(sign);
        const load = await concurrent(sign);
        rows.push({
          curve,
          way,
          "mean µs": round(latency.mean, 0),
          "p50 µs": round(latency.p50, 0),
          "p99 µs": round(latency.p99, 0),
          [`sig/s @${CONCURRENCY}`]: round(load.perSecond, 0),
          "loop p99 ms": round(load.loopP99Ms, 2),
          "loop max ms": round(load.loopMaxMs, 2),
        });
      }
    }
    console.table(rows);
  } finally {
    await token.close();
    hsm.remove();
  }
}

await main();
