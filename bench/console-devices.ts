/**
 * `npx tsx bench/console-devices.ts [--devices 100000] [--rounds 30]`: the console's device queries
 * against a registry of N devices (default 100,000), timed over real HTTPS with the operator
 * credential: the first page, a page deep into the cursor chain, a prefix search, each filter,
 * one device, and the overview. Prints p50/p99 ms per query (`--json` for machines).
 *
 * The devices are written straight into the registry (enrolling 100,000 over HTTPS would make this a
 * benchmark of enrollment); the queries go through the same admin API the console calls.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { initDataDir, startFleetgate } from "../src/main.js";
import { round, summarize } from "./lib/stats.js";

const DAY = 86_400_000;

function get(port: number, tls: { ca: string; cert: string; key: string }, path: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(`https://localhost:${port}${path}`, { ...tls, agent: false }, (res) => {
      res.resume();
      res.on("end", () =>
        res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`${path}: ${res.statusCode}`)),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      devices: { type: "string", default: "100000" },
      rounds: { type: "string", default: "30" },
      json: { type: "boolean" },
    },
  });
  const count = Number(values.devices);
  const dataDir = mkdtempSync(join(tmpdir(), "fleetgate-bench-console-"));
  const zero = { host: "127.0.0.1", port: 0 };
  const config = parseConfig({
    dataDir,
    logLevel: "warn",
    enroll: zero,
    mqtt: zero,
    pki: zero,
    admin: zero,
    metrics: zero,
  });
  const logger = createLogger("warn");
  await initDataDir(config, logger);
  const running = await startFleetgate(config, logger);
  try {
    const seeded = performance.now();
    const now = Date.now();
    for (let start = 0; start < count; start += 5_000)
      await running.registry.transact(async (tx) => {
        for (let i = start; i < Math.min(count, start + 5_000); i++) {
          const id = `fleet-${String(i).padStart(6, "0")}`;
          const revoked = i % 100 === 7;
          await tx.insertDevice({
            id,
            role: "device",
            profile: "device",
            status: revoked ? "revoked" : "active",
            createdAt: now,
            revokedAt: revoked ? now : null,
            revocationReason: revoked ? "keyCompromise" : null,
            lastSeenAt: null,
          });
          await tx.insertCertificate({
            serial: `b${i.toString(16).padStart(12, "0")}`,
            deviceId: id,
            pem: "",
            issuer: "ca-1",
            notBefore: now,
            notAfter: now + (i % 50 === 0 ? 3 : 300) * DAY,
            status: revoked ? "revoked" : "active",
            issuedAt: now,
            revokedAt: revoked ? now : null,
            revocationReason: revoked ? "keyCompromise" : null,
          });
        }
      });
    console.error(`[bench:console] ${count} devices written in ${round((performance.now() - seeded) / 1000)} s`);
    const ops = join(dataDir, "operators");
    const tls = {
      ca: readFileSync(join(dataDir, "pki", "root-ca.crt"), "utf8"),
      cert: readFileSync(join(ops, "admin.crt"), "utf8"),
      key: readFileSync(join(ops, "admin.key"), "utf8"),
    };
    const deep = `fleet-${String(Math.floor(count * 0.9)).padStart(6, "0")}`;
    const queries: Record<string, string> = {
      "first page (50)": "/v1/devices?limit=50",
      "page 90% deep (cursor)": `/v1/devices?limit=50&after=${deep}`,
      "prefix search": `/v1/devices?limit=50&prefix=${deep.slice(0, 10)}`,
      "status=revoked": "/v1/devices?limit=50&status=revoked",
      "expiring=7d": "/v1/devices?limit=50&expiring=7d",
      "online=true": "/v1/devices?limit=50&online=true",
      "online=false": "/v1/devices?limit=50&online=false",
      "one device": `/v1/devices/${deep}`,
      overview: "/v1/overview",
    };
    const results: Record<string, { p50: number | null; p99: number | null }> = {};
    for (const [name, path] of Object.entries(queries)) {
      const samples: number[] = [];
      for (let r = 0; r < Number(values.rounds); r++) samples.push(await get(running.ports.admin, tls, path));
      const s = summarize(samples);
      results[name] = { p50: round(s.p50), p99: round(s.p99) };
    }
    if (values.json)
      console.log(JSON.stringify({ devices: count, rounds: Number(values.rounds), ms: results }, null, 2));
    else {
      console.log(
        `console queries, ${count} devices, ${values.rounds} rounds each (ms, fresh TLS connection per request):`,
      );
      for (const [name, r] of Object.entries(results)) console.log(`  ${name.padEnd(24)} p50 ${r.p50}  p99 ${r.p99}`);
    }
  } finally {
    await running.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
