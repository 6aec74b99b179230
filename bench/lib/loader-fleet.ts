/**
 * The load processes of the connections benchmark, seen from the bench: one per share of the
 * devices, each with its own loopback source address (127.0.0.2, .3, …: every address has its own
 * ephemeral port range, so 100,000 connections never exhaust one) and its own open-file limit.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { stopChild } from "./child-server.js";
import type { Cleanup } from "./cleanup.js";
import type { FromLoader, LoaderJob, ToLoader } from "./conn-loader.js";
import { processCpuMs } from "./proc-cpu.js";
import { rssKiB } from "./proc-mem.js";
import { ulimitCommand } from "./host-limits.js";

const LOADER = fileURLToPath(new URL("./conn-loader.ts", import.meta.url));

export interface LoaderShare {
  readonly localAddress: string;
  readonly credentialsFile: string;
  readonly devices: number;
}

export interface FleetConnectResult {
  readonly connected: number;
  readonly failed: number;
  readonly errors: string[];
  readonly latenciesMs: number[];
}

interface Loader {
  readonly child: ChildProcess;
  readonly share: LoaderShare;
  connected: number;
  failed: number;
}

export class LoaderFleet {
  private dropped = 0;

  private constructor(private readonly loaders: Loader[]) {
    for (const loader of loaders)
      loader.child.on("message", (m: FromLoader) => {
        if (m.type === "progress") Object.assign(loader, { connected: m.connected, failed: m.failed });
        if (m.type === "dropped") this.dropped += m.count;
      });
  }

  /** One process per share, started under `ulimit -n openFileLimit`; stopped by `cleanup` too. */
  static async start(shares: readonly LoaderShare[], openFileLimit: number, cleanup: Cleanup): Promise<LoaderFleet> {
    const loaders = shares.map((share) => {
      const [command, args] = ulimitCommand(openFileLimit, process.execPath, ["--import", "tsx", LOADER]);
      const child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
      cleanup.add(() => stopChild(child, 2000));
      return { child, share, connected: 0, failed: 0 };
    });
    const fleet = new LoaderFleet(loaders);
    await Promise.all(loaders.map((loader) => fleet.next(loader, "ready")));
    return fleet;
  }

  get pids(): number[] {
    return this.loaders.map((l) => l.child.pid!).filter((pid) => pid !== undefined);
  }

  /** Sessions the brokers closed while they were held (should stay 0). */
  get droppedCount(): number {
    return this.dropped;
  }

  progress(): { connected: number; failed: number } {
    const sum = (f: (l: Loader) => number) => this.loaders.reduce((s, l) => s + f(l), 0);
    return { connected: sum((l) => l.connected), failed: sum((l) => l.failed) };
  }

  /** The load processes' own CPU (ms) and RSS (KiB), summed. */
  usage(): { cpuMs: number; rssKiB: number } {
    return this.pids.reduce(
      (acc, pid) => ({ cpuMs: acc.cpuMs + (processCpuMs(pid) ?? 0), rssKiB: acc.rssKiB + (rssKiB(pid) ?? 0) }),
      { cpuMs: 0, rssKiB: 0 },
    );
  }

  /** Every share connected at once, each loader `concurrency` at a time; resolves when all have answered. */
  async connect(job: Omit<LoaderJob, "credentialsFile" | "target"> & Pick<LoaderJob, "target">) {
    this.dropped = 0;
    const results = await Promise.all(
      this.loaders.map(async (loader) => {
        const answer = this.next(loader, "connected");
        this.send(loader, {
          type: "connect",
          job: {
            ...job,
            target: { ...job.target, localAddress: loader.share.localAddress },
            credentialsFile: loader.share.credentialsFile,
          },
        });
        return answer;
      }),
    );
    return results.reduce<FleetConnectResult>(
      (acc, r) => ({
        connected: acc.connected + r.connected,
        failed: acc.failed + r.failed,
        errors: [...acc.errors, ...r.errors].slice(0, 10),
        latenciesMs: acc.latenciesMs.concat(r.latenciesMs),
      }),
      { connected: 0, failed: 0, errors: [], latenciesMs: [] },
    );
  }

  /** Drops every session (no DISCONNECT: the broker sees the sockets close), then ends the processes. */
  async stop(): Promise<void> {
    await Promise.all(
      this.loaders.map(async (loader) => {
        if (loader.child.connected) {
          const closed = this.next(loader, "closed");
          this.send(loader, { type: "close" });
          await closed;
        }
        await stopChild(loader.child, 2000);
      }),
    );
  }

  private send(loader: Loader, message: ToLoader): void {
    loader.child.send(message);
  }

  private next<T extends FromLoader["type"]>(loader: Loader, type: T): Promise<Extract<FromLoader, { type: T }>> {
    const { child } = loader;
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromLoader) => {
        if (m.type !== type) return;
        detach();
        resolve(m as Extract<FromLoader, { type: T }>);
      };
      const onExit = (code: number | null, signal: string | null) => {
        detach();
        reject(new Error(`load process ${child.pid} exited (code ${code}, signal ${signal}) before '${type}'`));
      };
      const detach = () => child.off("message", onMessage).off("exit", onExit);
      child.on("message", onMessage).on("exit", onExit);
    });
  }
}
