import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opensslCsr, startTestFleetgate, type TestFleetgate } from "./helpers/fleetgate.js";
import { postJson } from "./helpers/https.js";

describe("enrollment smoke", () => {
  let fg: TestFleetgate;
  beforeAll(async () => {
    fg = await startTestFleetgate();
  });
  afterAll(async () => fg?.close());

  it("enrolls through /v1/enroll", async () => {
    const token = await fg.token({ deviceId: "dev-1" });
    const { csrPem } = opensslCsr("/CN=dev-1");
    const res = await postJson(fg.enrollUrl, "/v1/enroll", { token, csr: csrPem }, fg.rootCaPem);
    expect(res.status).toBe(201);
    expect(res.json()["deviceId"]).toBe("dev-1");
  });
});
