/**
 * Token-bucket rate limits keyed by source address, token or device. Pure: the caller passes
 * the time. The number of keys is capped so a flood of distinct keys cannot exhaust memory;
 * when full, the least recently refilled bucket is forgotten (it would have been nearly full).
 */
export interface RateSpec {
  readonly perSecond: number;
  readonly burst: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class KeyedTokenBucket {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly spec: RateSpec,
    private readonly maxKeys = 100_000,
  ) {}

  /** Takes `cost` tokens for `key` if it has them. */
  take(key: string, now: number, cost = 1): boolean {
    const bucket = this.refill(key, now);
    if (bucket.tokens < cost) return false;
    bucket.tokens -= cost;
    return true;
  }

  /** Seconds until `key` has one token again (for Retry-After). */
  retryAfterSeconds(key: string, now: number): number {
    const bucket = this.refill(key, now);
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.spec.perSecond));
  }

  forget(key: string): void {
    this.buckets.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }

  private refill(key: string, now: number): Bucket {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxKeys) this.evictOldest();
      bucket = { tokens: this.spec.burst, updatedAt: now };
    } else {
      this.buckets.delete(key); // re-inserted below: Map order doubles as recency order
      const elapsed = Math.max(0, now - bucket.updatedAt) / 1000;
      bucket.tokens = Math.min(this.spec.burst, bucket.tokens + elapsed * this.spec.perSecond);
      bucket.updatedAt = now;
    }
    this.buckets.set(key, bucket);
    return bucket;
  }

  private evictOldest(): void {
    const oldest = this.buckets.keys().next();
    if (!oldest.done) this.buckets.delete(oldest.value);
  }
}
