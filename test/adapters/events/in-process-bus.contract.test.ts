import pino from "pino";
import { InProcessEventBus } from "../../../src/adapters/events/in-process-bus.js";
import { eventBusContract } from "../../contracts/event-bus.contract.js";

eventBusContract("InProcessEventBus", async () => {
  const bus = new InProcessEventBus(pino({ level: "silent" }), "solo");
  return { bus, nodeId: "solo", close: async () => undefined };
});
