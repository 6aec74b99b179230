import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enrollDevice } from "../../../src/app/enroll-device.js";
import type { FleetgateError } from "../../../src/domain/errors.js";
import type { Registry } from "../../../src/ports.js";
import { webCryptoCsr } from "../../helpers/certs.js";
import { startTestFleetgate, type TestFleetgate } from "../../helpers/fleetgate.js";
import { postJson } from "../../helpers/https.js";
import { registryCounts, tokenUsesLeft } from "../../helpers/registry.js";

const N = 20;
let fg: TestFleetgate;

beforeAll(async () => {
  fg = await startTestFleetgate();
});
afterAll(async () => fg?.close());

async function certificateRows(deviceId: string): Promise<number> {
  return (await fg.running.registry.listCertificates(deviceId)).length;
}

describe("a single-use token raced by parallel enrollments", () => {
  it(`over HTTPS: ${N} parallel requests on fresh TLS connections yield exactly one certificate`, async () => {
    const token = await fg.token({ deviceId: "race-1" });
    const csrs = await Promise.all(Array.from({ length: N }, () => webCryptoCsr([{ CN: ["race-1"] }])));
    expect(new Set(csrs.map((c) => c.csrPem)).size).toBe(N);
    const before = await registryCounts(fg.running.registry);

    // httpsRequest uses agent:false, so every request opens its own TLS connection.
    const responses = await Promise.all(
      csrs.map(({ csrPem }) => postJson(fg.enrollUrl, "/v1/enroll", { token, csr: csrPem }, fg.rootCaPem)),
    );

    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    const refused = responses.filter((r) => r.status !== 201);
    expect(refused).toHaveLength(N - 1);
    for (const r of refused)
      expect({ status: r.status, body: r.json() }).toEqual({
        status: 401,
        body: { code: "token_used", message: expect.any(String) },
      });

    expect(await certificateRows("race-1")).toBe(1);
    const after = await registryCounts(fg.running.registry);
    expect(after).toEqual({
      devices: before.devices + 1,
      certificates: before.certificates + 1,
      audit: before.audit + 1,
    });
    expect(await tokenUsesLeft(fg.running.registry, token)).toBe(0);
    // The certificate handed out is the one recorded.
    const winner = responses.find((r) => r.status === 201)!.json<{ certificate: string }>();
    const recorded = await fg.running.registry.listCertificates("race-1");
    expect(recorded[0]!.pem.trim()).toBe(winner.certificate.trim());
  });

  it("in the use case: every racer passes the early token check, the transaction still admits one", async () => {
    const token = await fg.token({ deviceId: "race-2" });
    const csrs = await Promise.all(Array.from({ length: N }, () => webCryptoCsr([{ CN: ["race-2"] }])));
    const real = fg.running.registry;
    let recordAttempts = 0;
    const counting: Registry = new Proxy(real, {
      get(target, property) {
        if (property === "transact") {
          return (...args: Parameters<Registry["transact"]>) => {
            recordAttempts += 1;
            return target.transact(...args);
          };
        }
        const value = Reflect.get(target, property) as unknown;
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const deps = { ...fg.running.deps, registry: counting };
    const outcomes = await Promise.allSettled(csrs.map(({ csrDer }) => enrollDevice(deps, { token, csrDer })));

    const issued = outcomes.filter((o) => o.status === "fulfilled");
    const refused = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as FleetgateError] : []));
    expect(issued).toHaveLength(1);
    expect(refused.map((e) => e.code)).toEqual(Array(N - 1).fill("token_used"));
    // Every racer got past the early token check and reached the registry: the losers were
    // stopped by the spend inside the transaction, which is the guarantee under test.
    expect(recordAttempts).toBe(N);
    expect(await certificateRows("race-2")).toBe(1);
  });

  it("a group token with 3 uses raced by 20 distinct devices issues exactly 3 certificates", async () => {
    const token = await fg.token({ prefix: "race-g-", uses: 3 });
    const csrs = await Promise.all(Array.from({ length: N }, (_, i) => webCryptoCsr([{ CN: [`race-g-${i}`] }])));
    const responses = await Promise.all(
      csrs.map(({ csrPem }) => postJson(fg.enrollUrl, "/v1/enroll", { token, csr: csrPem }, fg.rootCaPem)),
    );
    expect(responses.filter((r) => r.status === 201)).toHaveLength(3);
    expect(responses.filter((r) => r.status === 401 && r.json()["code"] === "token_used")).toHaveLength(N - 3);
    const perDevice = await Promise.all(Array.from({ length: N }, (_, i) => certificateRows(`race-g-${i}`)));
    expect(perDevice.reduce((sum, n) => sum + n, 0)).toBe(3);
    expect(await tokenUsesLeft(fg.running.registry, token)).toBe(0);
  });
});
