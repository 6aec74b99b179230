/** The cluster benchmark's flags: sizes, runs, and which parts run. */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { integerFlag } from "./bench-main.js";

export interface Options {
  readonly devices: number;
  readonly messages: number;
  readonly rate: number;
  readonly revocations: number;
  readonly failover: number;
  readonly samples: number;
  readonly intervalMs: number;
  readonly reconnectMs: number;
  readonly concurrency: number;
  readonly runs: number;
  readonly sqlite: boolean;
  readonly profileDir: string | null;
  /** Only the CPU phase (implied by --profile: a kill -9 writes no profile). */
  readonly cpuOnly: boolean;
  readonly json: boolean;
}

export const USAGE = `usage: npm run bench:cluster -- [--devices N] [--messages M] [--rate R] [--revocations V] [--failover D]
                               [--samples S] [--interval-ms I] [--reconnect-ms P] [--concurrency C]
                               [--runs N] [--no-sqlite] [--cpu-only] [--quick] [--profile DIR] [--json]
  --devices N       devices connected to node 1 for the QoS 1 CPU phase (default 1000)
  --messages M      QoS 1 messages in that phase, all to one subscriber on node 2 (default 20000)
  --rate R          their total publish rate, per second (default 1000)
  --revocations V   devices on nodes 2/3 revoked one at a time through node 1 (default 100)
  --failover D      persistent-session devices on node 2 when it is killed (default 200)
  --samples S       publish → delivery latency samples, one every I ms (default 500, I = 10)
  --reconnect-ms P  the failover devices' reconnect delay (MQTT.js reconnectPeriod, default 1000)
  --concurrency C   connections opened at once by the load generator (default 32)
  --runs N          repeat everything N times on fresh processes; the report gives median and range
  --no-sqlite       skip the single node on SQLite (the single node on PostgreSQL always runs)
  --cpu-only        only the QoS 1 CPU phase (no latency, revocation or failover)
  --quick           a scaled-down try (100 devices, 2000 messages, 20 revocations, 30 failover devices)
  --profile DIR     nodes under node --cpu-prof into DIR; only the CPU phase runs (kill -9 writes no profile)
  --json            machine-readable report on stdout (progress stays on stderr)
Needs PostgreSQL (FLEETGATE_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test) and Redis
(FLEETGATE_BENCH_REDIS_URL, default redis://127.0.0.1:6379).`;

export function parseOptions(argv: readonly string[]): Options | null {
  const text = { type: "string" } as const;
  const flag = { type: "boolean", default: false } as const;
  const { values: v } = parseArgs({
    args: [...argv],
    options: {
      devices: text,
      messages: text,
      rate: text,
      revocations: text,
      failover: text,
      samples: text,
      "interval-ms": text,
      "reconnect-ms": text,
      concurrency: text,
      runs: text,
      profile: text,
      "no-sqlite": flag,
      "cpu-only": flag,
      quick: flag,
      json: flag,
      help: { ...flag, short: "h" },
    },
    strict: true,
  });
  if (v.help) return null;
  const q = v.quick === true;
  return {
    devices: integerFlag(v.devices, "devices", q ? 100 : 1000, 1),
    messages: integerFlag(v.messages, "messages", q ? 2000 : 20_000, 1),
    rate: integerFlag(v.rate, "rate", 1000, 1),
    revocations: integerFlag(v.revocations, "revocations", q ? 20 : 100, 1),
    failover: integerFlag(v.failover, "failover", q ? 30 : 200, 1),
    samples: integerFlag(v.samples, "samples", q ? 100 : 500, 1),
    intervalMs: integerFlag(v["interval-ms"], "interval-ms", 10, 1),
    reconnectMs: integerFlag(v["reconnect-ms"], "reconnect-ms", 1000, 0),
    concurrency: integerFlag(v.concurrency, "concurrency", 32, 1),
    runs: integerFlag(v.runs, "runs", 1, 1),
    sqlite: v["no-sqlite"] !== true,
    profileDir: v.profile ? resolve(v.profile) : null,
    cpuOnly: v["cpu-only"] === true || v.profile !== undefined,
    json: v.json === true,
  };
}
