import { spawn } from "node:child_process"; import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { handshakeCycles, type MqttTarget } from "./bench/lib/mqtt-load.js";
import { processCpuMs } from "./bench/lib/proc-cpu.js";
import { startMosquitto } from "./bench/lib/mosquitto.js";
const dir = "/tmp/tls-floor/pki";
const devices = Array.from({ length: 200 }, (_, i) => ({ id: `bench-dev-${i + 1}`, certPem: readFileSync(`${dir}/dev/${i + 1}.crt`, "utf8"), keyPem: readFileSync(`${dir}/dev/${i + 1}.key`, "utf8") }));
const N = Number(process.argv[2] ?? 1000);
async function measure(name: string, pid: number, port: number) {
  const target: MqttTarget = { host: "127.0.0.1", port, caPem: readFileSync(`${dir}/ca-bundle.crt`, "utf8"), keepaliveSeconds: 1800, timeoutMs: 30000 };
  await handshakeCycles(target, devices, 200, 32);
  await sleep(500); const before = processCpuMs(pid)!;
  const r = await handshakeCycles(target, devices, N, 32);
  await sleep(300); const cpu = processCpuMs(pid)! - before;
  const cache = new Map<string, Buffer>();
  await handshakeCycles(target, devices, 200, 32, { cache, offer: false });
  await sleep(500); const b2 = processCpuMs(pid)!;
  const r2 = await handshakeCycles(target, devices, N, 32, { cache, offer: true });
  await sleep(300); const cpu2 = processCpuMs(pid)! - b2;
  console.log(`${name.padEnd(10)} fresh ${(cpu * 1000 / r.ok).toFixed(0)} µs  resumed ${(cpu2 * 1000 / r2.ok).toFixed(0)} µs (${r2.resumed}/${r2.ok})`);
}
for (const mode of (process.argv[3] ?? "mosquitto,bare,aedes,aedes-peer").split(",")) {
  if (mode === "mosquitto") {
    const m = await startMosquitto({ dataDir: "/tmp/tls-floor", workDir: "/tmp/tls-floor", telemetryReaders: [] });
    await measure(mode, m.pid, m.port); await m.stop(); continue;
  }
  const child = spawn(process.execPath, [".tls-floor-server.mjs", mode], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((res) => child.stdout!.on("data", (d: Buffer) => { const m = /PORT (\d+)/.exec(d.toString()); if (m) res(Number(m[1])); }));
  await measure(mode, child.pid!, port); child.kill(); await sleep(200);
}
