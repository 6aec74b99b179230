/**
 * The messages devices and the backend exchange. Telemetry carries `seq` (per device, from 1)
 * and `ts` (ms since the epoch when the reading was taken), which the consumer checks.
 */
export const telemetryTopic = (deviceId: string) => `devices/${deviceId}/telemetry`;
export const commandTopic = (deviceId: string, command: string) => `devices/${deviceId}/commands/${command}`;
export const commandFilter = (deviceId: string) => `devices/${deviceId}/commands/#`;
export const eventTopic = (deviceId: string, event: string) => `devices/${deviceId}/events/${event}`;

export const TELEMETRY_FILTER = "devices/+/telemetry/#";
export const EVENTS_FILTER = "devices/+/events/#";

export interface Telemetry {
  readonly seq: number;
  readonly ts: number;
  readonly temperature: number;
  readonly humidity: number;
  readonly battery: number;
}

/** A sensor that drifts like a real one: a bounded random walk, not white noise. */
export class SensorState {
  private temperature = 18 + Math.random() * 8;
  private humidity = 35 + Math.random() * 30;
  private battery = 3.6 + Math.random() * 0.5;

  read(seq: number, now: number): Telemetry {
    this.temperature = clamp(this.temperature + (Math.random() - 0.5) * 0.2, -20, 60);
    this.humidity = clamp(this.humidity + (Math.random() - 0.5) * 0.5, 0, 100);
    this.battery = clamp(this.battery - Math.random() * 0.0005, 3.0, 4.2);
    return {
      seq,
      ts: now,
      temperature: round(this.temperature, 2),
      humidity: round(this.humidity, 1),
      battery: round(this.battery, 3),
    };
  }
}

/** seq and ts from a telemetry payload, or null when it is not one. */
export function parseTelemetry(payload: Buffer | string): { seq: number; ts: number } | null {
  try {
    const value = JSON.parse(payload.toString()) as Partial<Telemetry>;
    if (!Number.isSafeInteger(value.seq) || typeof value.ts !== "number") return null;
    return { seq: value.seq!, ts: value.ts };
  } catch {
    return null;
  }
}

/** A device's answer to a command, published on `devices/{id}/events/ack`. */
export interface CommandAck {
  readonly command: string;
  readonly id: string;
  readonly ok: boolean;
  readonly error?: string;
}

/** The device's answer to `devices/{id}/commands/{name}`: it knows `ping`, and says so otherwise. */
export function answerTo(topic: string, payload: Buffer | string): CommandAck {
  const command = topic.split("/")[3] ?? "";
  try {
    const { id } = JSON.parse(payload.toString()) as { id: string };
    return command === "ping" ? { command, id, ok: true } : { command, id, ok: false, error: "unknown command" };
  } catch {
    return { command, id: "", ok: false, error: "malformed command" };
  }
}

export function deviceIdOfTopic(topic: string): string | null {
  const levels = topic.split("/");
  return levels[0] === "devices" && levels[1] ? levels[1] : null;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
