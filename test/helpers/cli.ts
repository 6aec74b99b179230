import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * Child processes for tests: the fleetgate CLI (`node --import tsx src/adapters/cli/main.ts`) and
 * external clients (mosquitto_sub). Each gets a SIGKILL safety net and is tracked, so a test
 * file's afterAll can end what it started (`killChildren`), by ChildProcess, never by name.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI_MAIN = "src/adapters/cli/main.ts";

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The safety net had to kill it. */
  readonly killedOnTimeout: boolean;
}

export interface Spawned {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the result once the process has exited and its pipes are drained. */
  readonly exited: Promise<CliResult>;
  /** Date.now() at the child's 'exit' event (null while running). */
  exitedAt(): number | null;
  /** Resolves once `text` was printed on stdout or stderr; rejects if the process exits first. */
  waitForOutput(text: string | RegExp): Promise<void>;
  /** Resolves once `text` appeared `occurrences` times on stdout; rejects if the process exits first. */
  waitForStdout(text: string | RegExp, occurrences?: number): Promise<void>;
  /** Signals the process (SIGTERM unless told) if it still runs; resolves with its result. */
  kill(signal?: NodeJS.Signals): Promise<CliResult>;
}

export interface SpawnOptions {
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Through `stdbuf -oL -eL`: a C client's output (mosquitto -d) line by line, not block-buffered in the pipe. */
  readonly lineBuffered?: boolean;
}

const live = new Set<ChildProcess>();

function occurrencesOf(haystack: string, text: string | RegExp): number {
  if (typeof text === "string") return haystack.split(text).length - 1;
  return (haystack.match(new RegExp(text.source, text.flags.includes("g") ? text.flags : `${text.flags}g`)) ?? [])
    .length;
}

export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions = {}): Spawned {
  const argv = options.lineBuffered
    ? (["stdbuf", ["-oL", "-eL", command, ...args]] as const)
    : ([command, args] as const);
  const child = spawn(argv[0], argv[1], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
  });
  live.add(child);
  let out = "";
  let err = "";
  let exitTime: number | null = null;
  let killedOnTimeout = false;
  const watchers = new Set<() => void>();
  const notify = () => [...watchers].forEach((w) => w());
  child.stdout.on("data", (chunk: Buffer) => ((out += chunk.toString("utf8")), notify()));
  child.stderr.on("data", (chunk: Buffer) => ((err += chunk.toString("utf8")), notify()));
  const timer = setTimeout(() => {
    killedOnTimeout = true;
    child.kill("SIGKILL");
  }, options.timeoutMs ?? 30_000);
  child.on("exit", () => {
    exitTime = Date.now();
    notify();
  });
  const exited = new Promise<CliResult>((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      exitTime ??= Date.now();
      notify();
      resolve({ code, signal, stdout: out, stderr: err, killedOnTimeout });
    });
  });
  const waitFor = (seen: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (seen()) {
          watchers.delete(check);
          resolve();
        } else if (exitTime !== null) {
          watchers.delete(check);
          reject(new Error(`${command} exited before printing ${what}\nstdout: ${out}\nstderr: ${err}`));
        }
      };
      watchers.add(check);
      check();
    });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    exitedAt: () => exitTime,
    waitForOutput: (text) => waitFor(() => occurrencesOf(out + err, text) > 0, String(text)),
    waitForStdout: (text, occurrences = 1) =>
      waitFor(() => occurrencesOf(out, text) >= occurrences, `${String(text)} ×${occurrences}`),
    kill(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Kills every child still running (afterAll). */
export async function killChildren(): Promise<void> {
  const children = [...live];
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("close", () => resolve());
          child.kill("SIGKILL");
        }),
    ),
  );
}

/**
 * `fleetgate <args> --data <dataDir>`: the real CLI, which finds the running server's admin port in
 * <dataDir>/run/fleetgate.json and authenticates with <dataDir>/operators/<name>.{crt,key}.
 */
export function runCli(
  fg: { readonly dataDir: string },
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  return spawnTracked(process.execPath, ["--import", "tsx", CLI_MAIN, ...args, "--data", fg.dataDir], {
    env: { FLEETGATE_LOG_LEVEL: "silent", ...env },
  }).exited;
}

/** Runs the CLI with --json and parses stdout; fails loudly with the CLI's output otherwise. */
export async function runCliJson<T = unknown>(fg: { readonly dataDir: string }, args: readonly string[]): Promise<T> {
  const result = await runCli(fg, [...args, "--json"]);
  if (result.code !== 0)
    throw new Error(
      `fleetgate ${args.join(" ")} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
    );
  return JSON.parse(result.stdout) as T;
}

/** `mosquitto_sub` over mTLS against the test gateway; -d so the test can see the SUBACK. */
export function mosquittoSub(
  fg: { readonly running: { readonly ports: { readonly mqtt: number } } },
  files: { readonly cert: string; readonly key: string; readonly ca: string },
  clientId: string,
  topic: string,
  timeoutMs = 30_000,
): Spawned {
  const args = [
    "-d",
    "-V",
    "mqttv311",
    "-h",
    "localhost",
    "-p",
    String(fg.running.ports.mqtt),
    "--cafile",
    files.ca,
    "--cert",
    files.cert,
    "--key",
    files.key,
    "-i",
    clientId,
    "-q",
    "1",
    "-t",
    topic,
  ];
  return spawnTracked("mosquitto_sub", args, { timeoutMs, lineBuffered: true });
}
