/**
 * `npx tsx bench/tls-floor.ts`: what an idle mutual-TLS socket costs a bare Node TLS server, with no
 * MQTT broker behind it — the floor under `bench:connections`' per-session RSS. A plain
 * `tls.createServer` (ECDSA P-256 server and client certificates from openssl, client certificate
 * required) in its own process answers the raw CONNECT with a CONNACK and holds the socket; RSS from
 * /proc/PID/status before and 5 s after the last session, per variant: TLS 1.3 (Node's default, which
 * sends session tickets), TLS 1.3 with SSL_OP_NO_TICKET, TLS 1.2.
 *
 *   npx tsx bench/tls-floor.ts [--connections 5000] [--json]
 */
import { execFileSync, fork } from "node:child_process";
import { once } from "node:events";
import { constants } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, createSecureContext } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { benchMain, integerFlag } from "./lib/bench-main.js";
import { machineInfo } from "./lib/machine.js";
import { runPool } from "./lib/pool.js";
import { rssKiB } from "./lib/proc-mem.js";
import { rawConnect, type RawSession } from "./lib/raw-mqtt.js";
import { round } from "./lib/stats.js";
import { section } from "./lib/table.js";

const VARIANTS = {
  "TLS 1.3 (tickets)": { maxVersion: "TLSv1.3" },
  "TLS 1.3, SSL_OP_NO_TICKET": { maxVersion: "TLSv1.3", secureOptions: constants.SSL_OP_NO_TICKET },
  "TLS 1.2": { maxVersion: "TLSv1.2" },
} as const;
type Variant = keyof typeof VARIANTS;

/** Server mode (forked): listen, answer CONNECT with CONNACK, hold every socket. */
function serve(dir: string, variant: Variant): void {
  const file = (name: string) => readFileSync(join(dir, name));
  const server = createServer({
    key: file("server.key"),
    cert: file("server.crt"),
    ca: file("ca.crt"),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
    ...VARIANTS[variant],
  });
  server.on("secureConnection", (socket) => {
    socket.on("error", () => undefined);
    socket.once("data", () => socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00])));
  });
  server.listen(0, "127.0.0.1", () => process.send?.({ port: (server.address() as { port: number }).port }));
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
}

/** A CA, a server certificate for localhost and one client certificate (CN dev-1), ECDSA P-256. */
function makePki(dir: string): void {
  for (const name of ["ca", "server", "client"])
    openssl(dir, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`);
  openssl(dir, "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=floor-ca", "-days", "1", "-out", "ca.crt");
  for (const [name, cn] of [
    ["server", "localhost"],
    ["client", "dev-1"],
  ] as const) {
    openssl(dir, "req", "-new", "-key", `${name}.key`, "-subj", `/CN=${cn}`, "-out", `${name}.csr`);
    openssl(
      dir,
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "1",
      "-out",
      `${name}.crt`,
    );
  }
}

async function measure(dir: string, variant: Variant, connections: number) {
  const child = fork(fileURLToPath(import.meta.url), ["--serve", dir, variant], { execArgv: ["--import", "tsx"] });
  try {
    const [{ port }] = (await once(child, "message")) as [{ port: number }];
    await sleep(1000);
    const before = rssKiB(child.pid!) ?? NaN;
    const file = (name: string) => readFileSync(join(dir, name));
    const context = createSecureContext({ ca: file("ca.crt"), cert: file("client.crt"), key: file("client.key") });
    const target = { host: "127.0.0.1", port, keepaliveSeconds: 3600, timeoutMs: 30_000, localAddress: "127.0.0.2" };
    const sessions: RawSession[] = await runPool(connections, 32, () => rawConnect(target, "dev-1", context));
    await sleep(5000);
    const after = rssKiB(child.pid!) ?? NaN;
    for (const s of sessions) s.socket.destroy();
    return {
      variant,
      connections,
      rssBeforeKiB: before,
      rssAfterKiB: after,
      kibPerSession: (after - before) / connections,
    };
  } finally {
    child.kill();
    await once(child, "exit");
  }
}

interface Options {
  readonly connections: number;
  readonly json: boolean;
}

const USAGE = "usage: npx tsx bench/tls-floor.ts [--connections N (default 5000)] [--json]";

if (process.argv[2] === "--serve") serve(process.argv[3]!, process.argv[4] as Variant);
else
  process.exitCode = await benchMain({
    name: "bench:tls-floor",
    usage: USAGE,
    parse(argv): Options | null {
      const { values } = parseArgs({
        args: [...argv],
        options: {
          connections: { type: "string" },
          json: { type: "boolean", default: false },
          help: { type: "boolean", short: "h" },
        },
      });
      if (values.help) return null;
      return { connections: integerFlag(values.connections, "connections", 5000, 1), json: values.json ?? false };
    },
    async run(options, cleanup) {
      const dir = mkdtempSync(join(tmpdir(), "fleetgate-tls-floor-"));
      cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
      makePki(dir);
      const results = [];
      for (const variant of Object.keys(VARIANTS) as Variant[]) {
        console.error(`[bench] ${variant}: ${options.connections} idle mTLS sessions`);
        results.push(await measure(dir, variant, options.connections));
      }
      return { machine: machineInfo(), results };
    },
    finish(report, options) {
      const rows = report.results.map((r) => [
        r.variant,
        r.connections,
        `${r.rssBeforeKiB} → ${r.rssAfterKiB}`,
        round(r.kibPerSession, 1),
      ]);
      console.log(
        options.json
          ? JSON.stringify(report, null, 2)
          : section("bare Node TLS server, idle mTLS sessions", rows, [
              "variant",
              "sessions",
              "RSS KiB",
              "KiB per session",
            ]),
      );
      return 0;
    },
  });
