/** What a device's telemetry should have looked like at the consumer. */
export interface SentSequence {
  /** Highest sequence number the device took; it numbers from 1 with no gaps. */
  readonly lastSeq: number;
  /** Numbers the broker never acknowledged (still queued or in flight at the end). */
  readonly unacked: readonly number[];
}

export interface SequenceStats {
  /** Acknowledged by the broker, so owed to the consumer. */
  readonly expected: number;
  readonly received: number;
  /** Acknowledged but never delivered. */
  readonly lost: number;
  /** Deliveries of a number already delivered. */
  readonly duplicated: number;
  /** First deliveries of a number lower than one already delivered. */
  readonly outOfOrder: number;
  /** Delivered although never acknowledged to the device (its PUBACK was lost with the connection). */
  readonly unacknowledgedDelivered: number;
}

/**
 * Checks one device's arrivals (in arrival order) against what it sent. QoS 1 is at-least-once:
 * a re-sent message may arrive twice, which is counted, not hidden.
 */
export function checkSequence(sent: SentSequence, arrivals: readonly number[]): SequenceStats {
  const top = Math.max(sent.lastSeq, maxOf(arrivals));
  const seen = new Uint8Array(top + 1);
  let duplicated = 0;
  let outOfOrder = 0;
  let highest = 0;
  for (const seq of arrivals) {
    if (seen[seq]) {
      duplicated++;
      continue;
    }
    seen[seq] = 1;
    if (seq < highest) outOfOrder++;
    highest = Math.max(highest, seq);
  }
  const unacked = new Uint8Array(top + 1);
  for (const seq of sent.unacked) if (seq <= top) unacked[seq] = 1;
  let lost = 0;
  let unacknowledgedDelivered = 0;
  for (let seq = 1; seq <= top; seq++) {
    const owed = seq <= sent.lastSeq && !unacked[seq];
    if (owed && !seen[seq]) lost++;
    if (!owed && seen[seq]) unacknowledgedDelivered++;
  }
  const expected = Math.max(0, sent.lastSeq - sent.unacked.filter((s) => s >= 1 && s <= sent.lastSeq).length);
  return { expected, received: arrivals.length, lost, duplicated, outOfOrder, unacknowledgedDelivered };
}

function maxOf(values: readonly number[]): number {
  let max = 0;
  for (const value of values) if (value > max) max = value;
  return max;
}
