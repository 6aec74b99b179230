import { useEffect, useState } from "preact/hooks";

/** A FleetEvent as `GET /v1/events` streams it (`at` in ISO 8601). */
export interface FleetEvent {
  readonly type:
    "session.opened" | "session.closed" | "device.enrolled" | "device.renewed" | "device.revoked" | "device.reset";
  readonly deviceId: string;
  readonly at: string;
  readonly reason?: string;
  readonly node?: string;
}

export type LiveState = "connecting" | "live" | "reconnecting";

const EVENT_TYPES: readonly FleetEvent["type"][] = [
  "session.opened",
  "session.closed",
  "device.enrolled",
  "device.renewed",
  "device.revoked",
  "device.reset",
];

const listeners = new Set<(event: FleetEvent) => void>();
const stateListeners = new Set<(state: LiveState) => void>();
let state: LiveState = "connecting";
let source: EventSource | null = null;

function setState(next: LiveState): void {
  state = next;
  for (const listener of stateListeners) listener(next);
}

/** One EventSource for the whole console; the browser reconnects it by itself after a drop. */
function connect(): void {
  if (source !== null) return;
  source = new EventSource("/v1/events");
  source.onopen = () => setState("live");
  source.onerror = () => setState("reconnecting");
  for (const type of EVENT_TYPES)
    source.addEventListener(type, (message) => {
      const event = JSON.parse((message as MessageEvent<string>).data) as FleetEvent;
      for (const listener of listeners) listener(event);
    });
}

/** Calls `handler` for every fleet event while the component is mounted. */
export function useFleetEvents(handler: (event: FleetEvent) => void, deps: readonly unknown[]): void {
  useEffect(() => {
    connect();
    listeners.add(handler);
    return () => void listeners.delete(handler);
  }, deps);
}

/** Whether the live stream is up (shown in the header), re-rendered when it changes. */
export function useLiveState(): LiveState {
  const [current, setCurrent] = useState(state);
  useEffect(() => {
    connect();
    stateListeners.add(setCurrent);
    setCurrent(state);
    return () => void stateListeners.delete(setCurrent);
  }, []);
  return current;
}
