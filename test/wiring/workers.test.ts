import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import { workerConfig, workerNodeId } from "../../src/wiring/workers.js";

const clustered = (extra: Record<string, unknown> = {}) =>
  parseConfig({
    registry: "postgres://fg@127.0.0.1/fg",
    cluster: { redis: "redis://127.0.0.1:6379", nodeId: "gw-a", workers: 4 },
    ...extra,
  });

describe("a worker's configuration (serve --workers N)", () => {
  it("names worker i <nodeId>-w<i>, from the default node id too", () => {
    expect(workerConfig(clustered(), 3).cluster.nodeId).toBe("gw-a-w3");
    const unnamed = parseConfig({ registry: "postgres://fg@h/fg", cluster: { redis: "redis://h:6379" } });
    expect(workerConfig(unnamed, 1).cluster.nodeId).toBe(`${hostname()}-8883-w1`);
    expect(workerNodeId("n", 12)).toBe("n-w12");
  });

  it("gives worker i admin.port + i - 1 and metrics.port + i - 1, and keeps the shared ports", () => {
    const config = clustered();
    const third = workerConfig(config, 3);
    expect([third.admin.port, third.metrics.port]).toEqual([9445, 9466]);
    expect([third.mqtt.port, third.enroll.port, third.pki.port]).toEqual([8883, 8443, 8880]);
    expect(workerConfig(config, 1).admin.port).toBe(9443);
    expect(third.cluster.workers).toBe(4);
  });

  it("keeps port 0 (each worker its own ephemeral port)", () => {
    const config = clustered({ admin: { port: 0 }, metrics: { port: 0 } });
    expect([workerConfig(config, 2).admin.port, workerConfig(config, 2).metrics.port]).toEqual([0, 0]);
  });
});
