import { Cleanup } from "./cleanup.js";

export interface Benchmark<Options, Report> {
  /** e.g. "bench:broker", the prefix of every error line. */
  readonly name: string;
  readonly usage: string;
  /** The options, or null when help was asked for; throws on bad flags. */
  parse(argv: readonly string[]): Options | null;
  /** Registers everything it starts with `cleanup` (children, temp dirs). */
  run(options: Options, cleanup: Cleanup): Promise<Report>;
  /** Prints the report; returns the exit code (0: every part completed, 1: a part failed). */
  finish(report: Report, options: Options): number;
}

/**
 * The life of every benchmark script: flags (exit 2 with the usage when wrong), a cleanup that
 * also runs on Ctrl-C, the run, the report, and the exit code (1 when the run broke).
 */
export async function benchMain<Options, Report>(bench: Benchmark<Options, Report>): Promise<number> {
  let options: Options | null;
  try {
    options = bench.parse(process.argv.slice(2));
  } catch (error) {
    console.error(`${bench.name}: ${(error as Error).message}\n${bench.usage}`);
    return 2;
  }
  if (options === null) return (console.log(bench.usage), 0);
  const cleanup = new Cleanup();
  cleanup.installSignalHandlers();
  try {
    return bench.finish(await bench.run(options, cleanup), options);
  } catch (error) {
    console.error(`${bench.name}: ${(error as Error).stack ?? String(error)}`);
    return 1;
  } finally {
    await cleanup.run();
  }
}

/** A whole-number flag: the fallback when absent, else an integer >= min or a usage error. */
export function integerFlag(raw: string | undefined, name: string, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer >= ${min} (got ${raw})`);
  return value;
}
