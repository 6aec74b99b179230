import type { Db } from "./db.js";

interface Job<T> {
  readonly work: () => T;
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
}

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/**
 * Group commit: write transactions that arrive within one turn of the event loop share one
 * COMMIT, so one fsync (`synchronous=FULL`) makes all of them durable instead of one fsync each.
 * Each job still runs in a savepoint of its own: a job that throws rolls back only its own
 * changes, and its caller gets the error; the others commit. Nobody is answered before the COMMIT
 * that holds their change has returned, so "durable first, then reply" still holds.
 *
 * Why: every COMMIT blocks the event loop for its fsync (about 0.3 ms on the development machine),
 * and in the `npm run bench:enroll` profile the enrollment transaction took about 1.5 ms of the
 * event loop per enrollment under load before grouping, 0.6 ms after.
 */
export class GroupCommit {
  private queue: Job<unknown>[] = [];
  private readonly runBatch: (jobs: readonly Job<unknown>[]) => Outcome[];

  constructor(db: Db) {
    // A transaction function called inside another runs as a SAVEPOINT (better-sqlite3 nests them).
    const inSavepoint = db.transaction((work: () => unknown) => work());
    const batch = db.transaction((jobs: readonly Job<unknown>[]): Outcome[] =>
      jobs.map((job) => {
        try {
          return { ok: true, value: inSavepoint(job.work) };
        } catch (error) {
          return { ok: false, error };
        }
      }),
    );
    this.runBatch = batch.immediate;
  }

  /** Runs `work` inside the next batch's write transaction; settles once that batch committed. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.queue.length === 0) setImmediate(() => this.flush());
      this.queue.push({ work, resolve, reject } as Job<unknown>);
    });
  }

  private flush(): void {
    const jobs = this.queue;
    this.queue = [];
    let outcomes: Outcome[];
    try {
      outcomes = this.runBatch(jobs);
    } catch (error) {
      // The COMMIT itself failed: nothing of the batch is durable, so every caller hears it.
      for (const job of jobs) job.reject(error);
      return;
    }
    outcomes.forEach((outcome, i) => (outcome.ok ? jobs[i]!.resolve(outcome.value) : jobs[i]!.reject(outcome.error)));
  }
}
