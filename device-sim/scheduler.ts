/**
 * One interval timer for the whole fleet. Thousands of devices sampling at 1 Hz would otherwise
 * mean thousands of timers; here each tick calls a few hooks that walk the devices once, and
 * sleeps (backoffs, ramps) wait in per-tick buckets instead of owning a setTimeout each.
 */
export class Scheduler {
  private readonly hooks = new Set<(now: number) => void>();
  private readonly buckets = new Map<number, Array<() => void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    readonly tickMs = 50,
    private readonly clock: () => number = Date.now,
  ) {}

  now(): number {
    return this.clock();
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => this.tick(), this.tickMs);
  }

  /** Runs `hook` on every tick until the returned function is called. */
  onTick(hook: (now: number) => void): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  /** Resolves on the first tick at or after `ms` from now (at once when stopped). */
  sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const slot = Math.ceil((this.clock() + Math.max(0, ms)) / this.tickMs);
    return new Promise((resolve) => {
      const bucket = this.buckets.get(slot);
      if (bucket) bucket.push(resolve);
      else this.buckets.set(slot, [resolve]);
    });
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Stops ticking and wakes every sleeper, so that loops see the stop and end. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const bucket of this.buckets.values()) for (const wake of bucket) wake();
    this.buckets.clear();
  }

  private tick(): void {
    const now = this.clock();
    for (const hook of this.hooks) hook(now);
    const current = Math.floor(now / this.tickMs);
    for (const [slot, bucket] of this.buckets) {
      if (slot > current) continue;
      this.buckets.delete(slot);
      for (const wake of bucket) wake();
    }
  }
}
