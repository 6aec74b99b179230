import { randomBytes } from "node:crypto";
import pino from "pino";
import { afterAll, describe } from "vitest";
import { connectRedis, ready } from "../../../src/adapters/redis/connection.js";
import { NodeMembership } from "../../../src/adapters/redis/membership.js";
import { RedisEventBus } from "../../../src/adapters/redis/redis-bus.js";
import { eventBusContract } from "../../contracts/event-bus.contract.js";
import { cleanRedis, REDIS_URL, redisUnavailable } from "../../helpers/cluster.js";

const unavailable = await redisUnavailable();
const keyPrefix = `fgtest-bus-${randomBytes(4).toString("hex")}`;
afterAll(() => (unavailable === null ? cleanRedis(REDIS_URL, keyPrefix) : undefined));
let nodes = 0;

describe.skipIf(unavailable !== null)(
  unavailable === null ? "Redis event bus" : `Redis event bus (skipped: Redis not reachable: ${unavailable})`,
  () => {
    // Each test gets a node of its own, alone in its own key prefix: the contract is what one node sees.
    eventBusContract("RedisEventBus", async () => {
      const target = { url: REDIS_URL, keyPrefix: `${keyPrefix}-${++nodes}` };
      const [pub, sub] = [connectRedis(target, "bus-pub"), connectRedis(target, "bus-sub")];
      await Promise.all([ready(pub), ready(sub)]);
      const nodeId = `bus-node-${nodes}`;
      const membership = new NodeMembership(pub, target, nodeId, () => undefined);
      await membership.start();
      const bus = new RedisEventBus(pub, sub, target, membership, pino({ level: "silent" }));
      await bus.start();
      return {
        bus,
        nodeId,
        async close() {
          await membership.stop();
          await cleanRedis(REDIS_URL, target.keyPrefix);
          pub.disconnect();
          sub.disconnect();
        },
      };
    });
  },
);
