/**
 * Audit aggregation for refusals that anyone can provoke without a credential (the admin listener's
 * auth failures and router refusals). Auditing each one as its own durable entry would let a client
 * turn its request rate into fsyncs; auditing none would break "every refusal is audited". So, per key
 * (action + source address) and interval: the first refusal is written at once, the rest are counted,
 * and one summary entry carries their count when the interval ends. Every refusal is in exactly one
 * entry: the counts add up. Pure: the caller passes the time and writes what it is told to.
 *
 * Memory is bounded by `maxKeys` open windows; past that, refusals from further addresses share one
 * overflow window (address `*`), so a flood of distinct addresses costs one entry per interval too.
 */
export interface Refusal {
  readonly action: string;
  readonly address: string;
  readonly code: string;
  readonly url: string | null;
  readonly detail: string;
}

/** What one summary entry says about the refusals held back during an interval. */
export interface RefusalSummary {
  readonly action: string;
  readonly address: string;
  readonly count: number;
  /** How many of them got each answer (e.g. operator_certificate_required, rate_limited). */
  readonly codes: Readonly<Record<string, number>>;
  readonly firstUrl: string | null;
  readonly lastUrl: string | null;
  readonly lastDetail: string;
  readonly since: number;
  readonly until: number;
}

interface Window {
  readonly action: string;
  readonly address: string;
  readonly openedAt: number;
  count: number;
  codes: Record<string, number>;
  firstUrl: string | null;
  lastUrl: string | null;
  lastDetail: string;
  firstAt: number;
  lastAt: number;
}

export const OVERFLOW_ADDRESS = "*";

export class RefusalTally {
  /** Insertion order is opening order: the oldest windows come first. */
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly intervalMs: number,
    private readonly maxKeys = 10_000,
  ) {}

  /** "record": write this refusal now (the first of its window); "counted": it is held for the summary. */
  note(refusal: Refusal, now: number): "record" | "counted" {
    let key = `${refusal.action}\n${refusal.address}`;
    let address = refusal.address;
    if (!this.windows.has(key) && this.windows.size >= this.maxKeys) {
      address = OVERFLOW_ADDRESS;
      key = `${refusal.action}\n${OVERFLOW_ADDRESS}`;
    }
    const window = this.windows.get(key);
    if (window === undefined) {
      this.windows.set(key, this.open(refusal.action, address, now));
      return "record";
    }
    window.count += 1;
    window.codes[refusal.code] = (window.codes[refusal.code] ?? 0) + 1;
    window.firstUrl = window.count === 1 ? refusal.url : window.firstUrl;
    window.lastUrl = refusal.url;
    window.lastDetail = refusal.detail;
    if (window.count === 1) window.firstAt = now;
    window.lastAt = now;
    return "counted";
  }

  /** Summaries of the windows whose interval has ended (quiet ones are simply closed). */
  due(now: number): RefusalSummary[] {
    const out: RefusalSummary[] = [];
    for (const [key, window] of this.windows) {
      if (now - window.openedAt < this.intervalMs) break;
      this.windows.delete(key);
      if (window.count > 0) out.push(summaryOf(window));
    }
    return out;
  }

  /** Every held count, whatever its interval (shutdown). */
  drain(): RefusalSummary[] {
    const out = [...this.windows.values()].filter((w) => w.count > 0).map(summaryOf);
    this.windows.clear();
    return out;
  }

  get openWindows(): number {
    return this.windows.size;
  }

  private open(action: string, address: string, now: number): Window {
    const held = { count: 0, codes: {}, firstUrl: null, lastUrl: null, lastDetail: "", firstAt: now, lastAt: now };
    return { action, address, openedAt: now, ...held };
  }
}

function summaryOf(window: Window): RefusalSummary {
  const { action, address, count, codes, firstUrl, lastUrl, lastDetail } = window;
  return { action, address, count, codes, firstUrl, lastUrl, lastDetail, since: window.firstAt, until: window.lastAt };
}
