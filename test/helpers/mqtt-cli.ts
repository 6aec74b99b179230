import { spawn, type ChildProcess } from "node:child_process";
import type { TestFleetgate } from "./fleetgate.js";

/**
 * The Debian mosquitto clients as child processes. Every process gets a kill-on-timeout safety
 * net and is tracked, so a test file's afterAll can end whatever is still running (by pid, via
 * the ChildProcess it spawned).
 */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when the safety net had to kill the process. */
  readonly killedOnTimeout: boolean;
}

export interface CliProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<CliResult>;
  /** Resolves once `text` appeared on stdout (rejects if the process exits first). */
  waitForStdout(text: string | RegExp, occurrences?: number): Promise<void>;
  kill(): Promise<CliResult>;
}

const live = new Set<CliProcess>();

export function spawnCli(command: string, args: readonly string[], timeoutMs = 15_000): CliProcess {
  // stdbuf: the clients' debug lines (-d) go through stdio, which a pipe would block-buffer.
  const child = spawn("stdbuf", ["-oL", "-eL", command, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let killedOnTimeout = false;
  const watchers = new Set<() => void>();
  const notify = () => {
    for (const watcher of [...watchers]) watcher();
  };
  child.stdout!.on("data", (chunk: Buffer) => {
    out += chunk.toString("utf8");
    notify();
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    err += chunk.toString("utf8");
  });
  const timer = setTimeout(() => {
    killedOnTimeout = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  const exited = new Promise<CliResult>((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      live.delete(proc);
      notify();
      resolve({ code, signal, stdout: out, stderr: err, killedOnTimeout });
    });
  });
  const proc: CliProcess = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForStdout(text, occurrences = 1) {
      const count = () => (typeof text === "string" ? out.split(text).length - 1 : (out.match(new RegExp(text.source, "g")) ?? []).length);
      return new Promise((resolve, reject) => {
        const check = () => {
          if (count() >= occurrences) {
            watchers.delete(check);
            resolve();
          } else if (child.exitCode !== null || child.signalCode !== null) {
            watchers.delete(check);
            reject(new Error(`${command} exited before printing ${String(text)}\nstdout: ${out}\nstderr: ${err}`));
          }
        };
        watchers.add(check);
        check();
      });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
  live.add(proc);
  return proc;
}

/** Ends every mosquitto client this module started and is still running. */
export async function killAllCli(): Promise<void> {
  await Promise.all([...live].map((proc) => proc.kill()));
}

/** Runs one client to completion. */
export function runCli(command: string, args: readonly string[], timeoutMs = 15_000): Promise<CliResult> {
  return spawnCli(command, args, timeoutMs).exited;
}

export interface CliIdentity {
  readonly files: { readonly cert: string; readonly key: string; readonly ca: string };
}

/** Connection flags for mosquitto_pub/_sub/_rr: TLS to fleetgate's MQTT port, with or without a client certificate. */
export function mosquittoArgs(fg: TestFleetgate, identity: CliIdentity, options: { version?: "mqttv311" | "mqttv5"; withCert?: boolean } = {}): string[] {
  const args = ["-V", options.version ?? "mqttv311", "-h", "localhost", "-p", String(fg.running.ports.mqtt), "--cafile", identity.files.ca];
  if (options.withCert !== false) args.push("--cert", identity.files.cert, "--key", identity.files.key);
  return args;
}
