import type { Subscription } from "aedes";

interface OutgoingPersistence {
  outgoingEnqueueCombi(subs: Subscription[], packet: unknown): Promise<void>;
  outgoingClearMessageId(client: { id: string }, packet: unknown): Promise<unknown>;
}

/**
 * Aedes queues every QoS 1/2 message for each persistent-session subscriber until it is
 * acknowledged, with no bound: an offline device would hold memory forever. This caps each
 * client's queue; past the cap a message is not queued for that client (and is counted).
 */
export function boundOutgoingQueues(
  persistence: OutgoingPersistence,
  maxPerClient: number,
  onDropped: (clientId: string) => void,
): void {
  const queued = new Map<string, number>();
  const enqueue = persistence.outgoingEnqueueCombi.bind(persistence);
  const clear = persistence.outgoingClearMessageId.bind(persistence);
  persistence.outgoingEnqueueCombi = (subs, packet) => {
    const admitted = subs.filter((sub) => {
      const id = sub.clientId ?? "";
      const count = queued.get(id) ?? 0;
      if (count >= maxPerClient) {
        onDropped(id);
        return false;
      }
      queued.set(id, count + 1);
      return true;
    });
    return enqueue(admitted, packet);
  };
  persistence.outgoingClearMessageId = async (client, packet) => {
    const cleared = await clear(client, packet);
    const count = queued.get(client.id) ?? 0;
    if (cleared && count > 1) queued.set(client.id, count - 1);
    else if (cleared) queued.delete(client.id);
    return cleared;
  };
}
