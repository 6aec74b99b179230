/** What the backend consumer saw of one device's telemetry, in arrival order. */
export interface DeviceDeliveries {
  readonly seqs: number[];
  /** `ts` from the payload: when the device took the reading. */
  readonly sentAt: number[];
  readonly receivedAt: number[];
}

/**
 * Everything the consumer received, per device, as three parallel columns: cheap enough for
 * millions of messages and plain data for the report.
 */
export class DeliveryLog {
  private readonly byDevice = new Map<string, DeviceDeliveries>();
  private count = 0;
  private malformedCount = 0;

  record(deviceId: string, seq: number, sentAt: number, receivedAt: number): void {
    let deliveries = this.byDevice.get(deviceId);
    if (!deliveries) this.byDevice.set(deviceId, (deliveries = { seqs: [], sentAt: [], receivedAt: [] }));
    deliveries.seqs.push(seq);
    deliveries.sentAt.push(sentAt);
    deliveries.receivedAt.push(receivedAt);
    this.count++;
  }

  recordMalformed(): void {
    this.malformedCount++;
  }

  get total(): number {
    return this.count;
  }

  get malformed(): number {
    return this.malformedCount;
  }

  of(deviceId: string): DeviceDeliveries | undefined {
    return this.byDevice.get(deviceId);
  }

  snapshot(): ReadonlyMap<string, DeviceDeliveries> {
    return this.byDevice;
  }
}

/** Commands the consumer sent (one `ping` per device, on its first telemetry) and the answers. */
export class CommandLog {
  readonly sent = new Map<string, number>();
  readonly answered = new Map<string, number>();

  markSent(deviceId: string, at: number): void {
    this.sent.set(deviceId, at);
  }

  /** Round trip in ms, from the send time to the device's ack. */
  markAnswered(deviceId: string, at: number): void {
    const sentAt = this.sent.get(deviceId);
    if (sentAt !== undefined && !this.answered.has(deviceId)) this.answered.set(deviceId, at - sentAt);
  }
}
