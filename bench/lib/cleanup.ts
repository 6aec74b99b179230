/**
 * Teardown that runs exactly once, last registered first: on normal completion, on an error,
 * and on Ctrl-C / SIGTERM. Tasks should start their work synchronously (send the signal,
 * remove the directory) so that even the synchronous `exit` fallback does the essential part.
 */
export type CleanupTask = () => void | Promise<void>;

export class Cleanup {
  private readonly tasks: CleanupTask[] = [];
  private running: Promise<void> | null = null;

  add(task: CleanupTask): void {
    this.tasks.push(task);
  }

  /** Runs every task (LIFO); a failing task is reported and does not stop the others. */
  run(): Promise<void> {
    this.running ??= (async () => {
      while (this.tasks.length > 0) {
        const task = this.tasks.pop()!;
        try {
          await task();
        } catch (error) {
          console.error(`cleanup: ${(error as Error).message}`);
        }
      }
    })();
    return this.running;
  }

  /** Ctrl-C and SIGTERM clean up then exit 130/143; a bare `process.exit` still fires the tasks. */
  installSignalHandlers(): void {
    const onSignal = (signal: NodeJS.Signals, code: number) => {
      console.error(`\n${signal}: stopping and cleaning up`);
      void this.run().finally(() => process.exit(code));
    };
    process.once("SIGINT", () => onSignal("SIGINT", 130));
    process.once("SIGTERM", () => onSignal("SIGTERM", 143));
    process.once("exit", () => {
      if (this.running === null) void this.run();
    });
  }
}
