import type { FrameObserver } from "./packet-size-guard.js";
import { isWellFormedUtf8 } from "./utf8.js";

/**
 * Looks inside the packets the broker's parser is about to decode, at the bytes themselves: the parser
 * turns ill-formed UTF-8 into U+FFFD, after which no rule can tell "\xFF" from a real U+FFFD.
 *  - [MQTT-1.5.3-1]: a topic (PUBLISH), a filter (SUBSCRIBE, UNSUBSCRIBE), a client id, will topic or
 *    user name (CONNECT) that is not well-formed UTF-8 closes the connection;
 *  - a SUBSCRIBE carrying more filters than allowed closes the connection: its cost is paid before
 *    any per-filter check could answer 0x80.
 * Only PUBLISH topics are read on the hot path, and only their first 2 + length bytes are kept.
 */
export type InspectionProblem = "malformed_utf8" | "too_many_filters";

const TYPE = { connect: 1, publish: 3, subscribe: 8, unsubscribe: 10 } as const;

export class MqttInspector implements FrameObserver {
  private type = 0;
  private chunks: Uint8Array[] = [];
  private kept = 0;
  /** How many body bytes this packet's check needs (Infinity: the whole body). */
  private needed = 0;

  constructor(private readonly maxFiltersPerSubscribe: number) {}

  begin(typeByte: number, _bodyLength: number): void {
    this.type = typeByte >> 4;
    this.chunks = [];
    this.kept = 0;
    this.needed = this.type === TYPE.publish ? 2 : this.inspectsWholeBody() ? Infinity : 0;
  }

  body(bytes: Uint8Array): InspectionProblem | null {
    let offset = 0;
    while (this.kept < this.needed && offset < bytes.length) {
      const take = bytes.subarray(offset, offset + Math.min(bytes.length - offset, this.needed - this.kept));
      this.chunks.push(take);
      this.kept += take.length;
      offset += take.length;
      if (this.type !== TYPE.publish) continue;
      if (this.needed === 2 && this.kept === 2) {
        const head = this.collected();
        this.needed = 2 + ((head[0]! << 8) | head[1]!);
      }
      if (this.kept === this.needed) return this.checkPublish();
    }
    return null;
  }

  end(): InspectionProblem | null {
    const body = this.chunks.length === 0 ? new Uint8Array() : this.collected();
    this.chunks = [];
    if (this.type === TYPE.subscribe) return checkFilters(body, true, this.maxFiltersPerSubscribe);
    if (this.type === TYPE.unsubscribe) return checkFilters(body, false, Infinity);
    if (this.type === TYPE.connect) return checkConnect(body);
    return null;
  }

  private inspectsWholeBody(): boolean {
    return this.type === TYPE.subscribe || this.type === TYPE.unsubscribe || this.type === TYPE.connect;
  }

  private collected(): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0]!;
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined;
  }

  private checkPublish(): InspectionProblem | null {
    const head = this.collected();
    this.needed = 0; // checked once; the payload streams past untouched
    this.chunks = [];
    return isWellFormedUtf8(head.subarray(2)) ? null : "malformed_utf8";
  }
}

/** A cursor over length-prefixed fields (§1.5.3 UTF-8 strings, §1.5.2 binary data). */
class Fields {
  offset: number;
  constructor(
    private readonly bytes: Uint8Array,
    start = 0,
  ) {
    this.offset = start;
  }
  get done(): boolean {
    return this.offset >= this.bytes.length;
  }
  /** The next length-prefixed field, or null when the body is too short (the parser will refuse it). */
  next(): Uint8Array | null {
    if (this.offset + 2 > this.bytes.length) return null;
    const length = (this.bytes[this.offset]! << 8) | this.bytes[this.offset + 1]!;
    const start = this.offset + 2;
    if (start + length > this.bytes.length) return null;
    this.offset = start + length;
    return this.bytes.subarray(start, start + length);
  }
  skip(count: number): void {
    this.offset += count;
  }
  byte(at: number): number | undefined {
    return this.bytes[at];
  }
}

/** §3.8.3 / §3.10.3: packet identifier, then filters (each followed by a QoS byte in a SUBSCRIBE). */
function checkFilters(body: Uint8Array, withQos: boolean, maxFilters: number): InspectionProblem | null {
  const fields = new Fields(body, 2);
  let count = 0;
  while (!fields.done) {
    const filter = fields.next();
    if (filter === null) return null;
    if (!isWellFormedUtf8(filter)) return "malformed_utf8";
    if (++count > maxFilters) return "too_many_filters";
    if (withQos) fields.skip(1);
  }
  return null;
}

/**
 * §3.1.2–§3.1.3: protocol name, level, flags, keep-alive, then client id, will topic+message, user name.
 * Only levels 3 and 4 have this layout: an MQTT 5 CONNECT carries properties after the keep-alive, and
 * read as 3.1.1 they would pass for strings; Aedes answers other levels with CONNACK 1 [MQTT-3.1.2-2].
 */
function checkConnect(body: Uint8Array): InspectionProblem | null {
  const fields = new Fields(body);
  if (fields.next() === null) return null; // protocol name
  const level = fields.byte(fields.offset);
  const flags = fields.byte(fields.offset + 1);
  if (flags === undefined || (level !== 3 && level !== 4)) return null;
  fields.skip(4); // level, flags, keep-alive
  const strings: (Uint8Array | null)[] = [fields.next()]; // client id
  if (flags & 0x04) {
    strings.push(fields.next()); // will topic
    fields.next(); // will message: binary data, any bytes allowed
  }
  if (flags & 0x80) strings.push(fields.next()); // user name (the password is binary)
  return strings.some((s) => s !== null && !isWellFormedUtf8(s)) ? "malformed_utf8" : null;
}
