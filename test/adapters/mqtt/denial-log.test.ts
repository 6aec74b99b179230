import { describe, expect, it } from "vitest";
import { DenialLog } from "../../../src/adapters/mqtt/denial-log.js";
import { createLogger } from "../../../src/logger.js";
import { LogCapture } from "../../helpers/fleetgate.js";

/*
 * Hardening, break 6 ("log amplification"): pre-fix (2cd67a4 hooks.ts denied()) every denied filter
 * and dropped publish wrote its own warn line. DenialLog, over a real pino logger: at most
 * `linesPerKey` lines per (client, reason) per interval, the rest summed up in one line per key when
 * the interval ends; memory bounded by `maxKeys`.
 */

function capture() {
  const logs = new LogCapture();
  return { logs, logger: createLogger("debug", logs) };
}

const lines = (logs: LogCapture, match: Record<string, unknown>) =>
  logs.lines.filter((line) => Object.entries(match).every(([k, v]) => line[k] === v));

describe("DenialLog", () => {
  it("logs 20 lines per (client, reason), aggregates the rest exactly, and starts afresh after a flush", () => {
    const { logs, logger } = capture();
    const log = new DenialLog(logger, { intervalMs: 3_600_000 });
    for (let n = 0; n < 1_000; n++) log.denied("dev-1", "publish_rate_exceeded", { deviceId: "dev-1", n });
    for (let n = 0; n < 5; n++) log.denied("dev-1", "publish_not_permitted", { deviceId: "dev-1", n });
    for (let n = 0; n < 5; n++) log.denied("dev-2", "publish_rate_exceeded", { deviceId: "dev-2", n });
    expect(lines(logs, { msg: "denied", reason: "publish_rate_exceeded", deviceId: "dev-1" })).toHaveLength(20);
    expect(lines(logs, { msg: "denied", reason: "publish_not_permitted" })).toHaveLength(5);
    expect(lines(logs, { msg: "denied", reason: "publish_rate_exceeded", deviceId: "dev-2" })).toHaveLength(5);
    // The individual lines are the first ones, with their detail.
    expect(
      lines(logs, { msg: "denied", deviceId: "dev-1", reason: "publish_rate_exceeded" }).map((l) => l["n"]),
    ).toEqual([...Array(20).keys()]);

    log.flush();
    const aggregated = lines(logs, { msg: "denied (more, aggregated)" });
    expect(aggregated).toHaveLength(1);
    expect(aggregated[0]).toMatchObject({ reason: "publish_rate_exceeded", deviceId: "dev-1", repeated: 980, n: 0 });

    for (let n = 0; n < 25; n++) log.denied("dev-1", "publish_rate_exceeded", { deviceId: "dev-1", n });
    expect(lines(logs, { msg: "denied", reason: "publish_rate_exceeded", deviceId: "dev-1" })).toHaveLength(40);
    log.close(); // flushes what is left
    expect(lines(logs, { msg: "denied (more, aggregated)" }).map((l) => l["repeated"])).toEqual([980, 5]);
  });

  it("past maxKeys distinct keys in an interval, counts the excess as one line", () => {
    const { logs, logger } = capture();
    const log = new DenialLog(logger, { intervalMs: 3_600_000, maxKeys: 3 });
    for (let n = 0; n < 10; n++) log.denied(`10.0.0.${n}`, "connection_rate_exceeded", { ip: `10.0.0.${n}` });
    expect(lines(logs, { reason: "connection_rate_exceeded" })).toHaveLength(3);
    log.close();
    expect(lines(logs, { msg: "denials from more clients (aggregated)" })).toMatchObject([{ repeated: 7 }]);
  });

  it("flushes on its own every intervalMs", async () => {
    const { logs, logger } = capture();
    const log = new DenialLog(logger, { intervalMs: 50, linesPerKey: 2 });
    for (let n = 0; n < 7; n++) log.denied("dev-1", "subscribe_not_permitted", { deviceId: "dev-1" });
    const deadline = Date.now() + 5_000;
    while (lines(logs, { msg: "denied (more, aggregated)" }).length === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    log.close();
    expect(lines(logs, { msg: "denied (more, aggregated)" })).toMatchObject([{ repeated: 5 }]);
    expect(lines(logs, { msg: "denied" })).toHaveLength(2);
  });
});
