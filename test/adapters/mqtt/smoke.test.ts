import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { connectDevice, enrollDevice, nextMessage } from "../../helpers/devices.js";

describe("mqtt smoke", () => {
  let fg: TestFleetgate;
  beforeAll(async () => {
    fg = await startTestFleetgate();
  });
  afterAll(async () => { console.log(fg.logs.raw().split("\n").filter(l => l.includes("mqtt")).join("\n")); await fg?.close(); });

  it("round trip on own topics", async () => {
    const dev = await enrollDevice(fg, "dev-1");
    const svc = await enrollDevice(fg, "svc-1", "service");
    const device = await connectDevice(fg, dev);
    const service = await connectDevice(fg, svc);
    await service.subscribeAsync("devices/+/telemetry/#", { qos: 1 });
    const got = nextMessage(service);
    await device.publishAsync("devices/dev-1/telemetry", "hello", { qos: 1 });
    expect(await got).toEqual({ topic: "devices/dev-1/telemetry", payload: "hello" });
    await device.endAsync();
    await service.endAsync();
  });
});
