import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { PhaseOptions } from "./broker-phases.js";
import { integerFlag } from "./bench-main.js";

/** bench/broker.ts's flags: sizes, which brokers, and the optional phases. */
export interface Options extends PhaseOptions {
  readonly devices: number;
  readonly revocations: number;
  readonly only: "fleetgate" | "mosquitto" | null;
  readonly profileDir: string | null;
  /** `serve --workers N` on PostgreSQL + Redis; null: the embedded SQLite server. */
  readonly workers: number | null;
  readonly floor: boolean;
  readonly json: boolean;
}

export const USAGE = `usage: npx tsx bench/broker.ts [--devices N] [--handshakes H] [--messages M] [--rate R]
                                [--revocations V] [--concurrency C] [--accumulate A]
                                [--accumulate-concurrency F] [--only fleetgate|mosquitto]
                                [--profile DIR] [--json]
  --devices N      devices connected at once, for RSS per idle connection and the QoS 1 phase (default 5000)
  --handshakes H   fresh connect → CONNACK → DISCONNECT cycles timed per broker (default 2000), then
                   as many reconnects resuming the previous connection's TLS session
  --messages M     QoS 1 messages published, all to be delivered to one subscriber (default 50000)
  --rate R         total publish rate, messages per second (default 2000)
  --revocations V  fleetgate revocations timed to socket close (default 100, 0 = none)
  --concurrency C  connections opened at once by the load generator (default 32)
  --warmup W       untimed full handshakes before the handshake and kept-open phases (default min(200, H))
  --accumulate A   fresh handshakes whose connections stay open, on a fresh broker (default 1000, 0 = none)
  --accumulate-concurrency F   of those, in flight at once (default 50)
  --only B         measure one broker (no ratios)
  --profile DIR    run the measured fleetgate under node --cpu-prof into DIR and summarize it
  --workers N      fleetgate as serve --workers N on PostgreSQL + Redis (CPU and RSS of every process)
  --floor          also measure the handshake phase on Node's TLS alone and on a default Aedes over it
                   (same PKI, same load): the floor under fleetgate's handshake figures
  --json           machine-readable report on stdout (progress stays on stderr)
Scaled-down runs are for trying the bench: per-unit figures then carry fixed costs (settles,
idle timers, JIT warm-up), so only runs at the default sizes compare with the targets.`;

export function parseOptions(argv: readonly string[]): Options | null {
  const text = { type: "string" } as const;
  const { values } = parseArgs({
    args: [...argv],
    options: {
      devices: text,
      handshakes: text,
      messages: text,
      rate: text,
      revocations: text,
      concurrency: text,
      warmup: text,
      accumulate: text,
      "accumulate-concurrency": text,
      only: text,
      profile: text,
      workers: text,
      floor: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) return null;
  const only = values.only ?? null;
  if (only !== null && only !== "fleetgate" && only !== "mosquitto")
    throw new Error(`--only must be fleetgate or mosquitto (got ${only})`);
  const handshakes = integerFlag(values.handshakes, "handshakes", 2000, 1);
  return {
    devices: integerFlag(values.devices, "devices", 5000, 1),
    handshakes,
    warmupHandshakes: integerFlag(values.warmup, "warmup", Math.min(200, handshakes), 0),
    messages: integerFlag(values.messages, "messages", 50_000, 1),
    rate: integerFlag(values.rate, "rate", 2000, 1),
    revocations: integerFlag(values.revocations, "revocations", 100, 0),
    concurrency: integerFlag(values.concurrency, "concurrency", 32, 1),
    accumulate: integerFlag(values.accumulate, "accumulate", 1000, 0),
    accumulateConcurrency: integerFlag(values["accumulate-concurrency"], "accumulate-concurrency", 50, 1),
    timeoutMs: 30_000,
    only,
    profileDir: values.profile ? resolve(values.profile) : null,
    workers: values.workers === undefined ? null : integerFlag(values.workers, "workers", 1, 1),
    floor: values.floor ?? false,
    json: values.json ?? false,
  };
}
