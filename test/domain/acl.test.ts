import { describe, expect, it } from "vitest";
import { Acl, DEFAULT_ACL, deriveAcl, explainAcl, type AclConfig } from "../../src/domain/acl.js";

describe("DEFAULT_ACL", () => {
  it("has exactly the documented rules", () => {
    expect(DEFAULT_ACL).toEqual({
      device: {
        publish: ["devices/{cn}/telemetry", "devices/{cn}/telemetry/#", "devices/{cn}/events/#", "devices/{cn}/state"],
        subscribe: ["devices/{cn}/commands/#", "devices/{cn}/config"],
      },
      service: {
        subscribe: ["devices/+/telemetry/#", "devices/+/events/#", "devices/+/state"],
        publish: ["devices/+/commands/#", "devices/+/config"],
      },
    });
  });

  it("cannot be mutated by a caller", () => {
    expect(Object.isFrozen(DEFAULT_ACL)).toBe(true);
    expect(() => DEFAULT_ACL["device"]?.publish.push("#")).toThrow();
  });
});

describe("device role", () => {
  const acl = deriveAcl(DEFAULT_ACL, "device", "dev-1");

  it("substitutes the CN into every rule", () => {
    expect(acl).toBeInstanceOf(Acl);
    expect(acl.publishRules).toEqual([
      "devices/dev-1/telemetry",
      "devices/dev-1/telemetry/#",
      "devices/dev-1/events/#",
      "devices/dev-1/state",
    ]);
    expect(acl.subscribeRules).toEqual(["devices/dev-1/commands/#", "devices/dev-1/config"]);
  });

  it.each([
    ["devices/dev-1/telemetry", "devices/dev-1/telemetry"],
    ["devices/dev-1/telemetry/temp", "devices/dev-1/telemetry/#"],
    ["devices/dev-1/telemetry/a/b/c", "devices/dev-1/telemetry/#"],
    ["devices/dev-1/events/boot", "devices/dev-1/events/#"],
    ["devices/dev-1/events", "devices/dev-1/events/#"],
    ["devices/dev-1/state", "devices/dev-1/state"],
  ])("may publish its own %s", (topic, rule) => {
    expect(acl.check("publish", topic)).toEqual({ allowed: true, rule, reason: expect.any(String) });
  });

  it.each([
    "devices/dev-2/telemetry", // another device
    "devices/dev-10/telemetry",
    "devices/dev-1x/telemetry",
    "devices/dev-1/commands/x", // commands flow the other way
    "devices/dev-1/config",
    "devices/dev-1/state/extra",
    "devices/dev-1",
    "devices",
    "devices/dev-1/Telemetry",
    "$SYS/broker/clients",
    "other/topic",
  ])("may not publish %s", (topic) => {
    const verdict = acl.check("publish", topic);
    expect(verdict.allowed).toBe(false);
    expect(verdict.rule).toBeNull();
    expect(verdict.reason).toMatch(/no publish rule matches/);
  });

  it.each(["devices/+/telemetry", "devices/dev-1/telemetry/#", "#", "", "devices/dev-1/telemetry\u0000"])(
    "refuses to publish the invalid topic name %j",
    (topic) => {
      const verdict = acl.check("publish", topic);
      expect(verdict).toEqual({ allowed: false, rule: null, reason: expect.stringMatching(/^invalid topic name: /) });
    },
  );

  it.each([
    ["devices/dev-1/commands/#", "devices/dev-1/commands/#"],
    ["devices/dev-1/commands", "devices/dev-1/commands/#"],
    ["devices/dev-1/commands/reboot", "devices/dev-1/commands/#"],
    ["devices/dev-1/commands/+", "devices/dev-1/commands/#"],
    ["devices/dev-1/commands/+/x/#", "devices/dev-1/commands/#"],
    ["devices/dev-1/config", "devices/dev-1/config"],
  ])("may subscribe to its own %s", (filter, rule) => {
    expect(acl.check("subscribe", filter)).toEqual({ allowed: true, rule, reason: expect.any(String) });
  });

  it.each([
    "devices/+/commands/#", // every device's commands
    "devices/#",
    "#",
    "+/+/commands/#",
    "+/dev-1/commands/#",
    "devices/dev-1/#",
    "devices/dev-1/+",
    "devices/dev-2/commands/#",
    "devices/dev-1/config/#", // would include devices/dev-1/config/x, not granted
    "devices/dev-1/telemetry", // its own telemetry is publish-only
    "$SYS/#",
    "$SYS/broker/load",
    "+",
    "+/#",
  ])("may not subscribe to %s", (filter) => {
    const verdict = acl.check("subscribe", filter);
    expect(verdict.allowed).toBe(false);
    expect(verdict.rule).toBeNull();
    expect(verdict.reason).toMatch(/no subscribe rule covers/);
  });

  it.each(["devices/dev-1/commands/#/x", "devices/dev-1/commands/a+", "", "devices/dev-1/commands#"])(
    "refuses the invalid filter %j",
    (filter) => {
      expect(acl.check("subscribe", filter)).toEqual({
        allowed: false,
        rule: null,
        reason: expect.stringMatching(/^invalid topic filter: /),
      });
    },
  );

  it("re-checks forwarded topics with canReceive", () => {
    expect(acl.canReceive("devices/dev-1/commands/reboot")).toBe(true);
    expect(acl.canReceive("devices/dev-1/commands")).toBe(true);
    expect(acl.canReceive("devices/dev-1/config")).toBe(true);
    expect(acl.canReceive("devices/dev-2/commands/reboot")).toBe(false);
    expect(acl.canReceive("devices/dev-1/telemetry")).toBe(false);
    expect(acl.canReceive("$SYS/broker/load")).toBe(false);
    expect(acl.canReceive("devices/dev-1/commands/+")).toBe(false); // not a topic name
  });

  it("rejects unknown actions at runtime", () => {
    const verdict = acl.check("connect" as never, "devices/dev-1/telemetry");
    expect(verdict.allowed).toBe(false);
  });

  it("is immutable", () => {
    expect(Object.isFrozen(acl)).toBe(true);
    expect(Object.isFrozen(acl.publishRules)).toBe(true);
    expect(() => (acl.subscribeRules as string[]).push("#")).toThrow();
  });
});

describe("service role", () => {
  const acl = deriveAcl(DEFAULT_ACL, "service", "backend-1");

  it.each([
    "devices/dev-1/telemetry",
    "devices/dev-2/telemetry/temp",
    "devices/+/telemetry",
    "devices/+/telemetry/#",
    "devices/dev-1/telemetry/#",
    "devices/+/events/#",
    "devices/dev-9/events/boot",
    "devices/+/state",
  ])("may subscribe to %s", (filter) => {
    expect(acl.check("subscribe", filter).allowed).toBe(true);
  });

  it.each([
    "#",
    "devices/#",
    "devices/+/#",
    "devices/+/+",
    "+/+/telemetry/#",
    "devices/+/commands/#",
    "$SYS/#",
    "devices/+/state/#",
  ])("may not subscribe to %s", (filter) => {
    expect(acl.check("subscribe", filter).allowed).toBe(false);
  });

  it("reads every device's telemetry", () => {
    for (const device of ["dev-1", "dev-2", "sensor.42", "A_b-c"]) {
      expect(acl.canReceive(`devices/${device}/telemetry`)).toBe(true);
      expect(acl.canReceive(`devices/${device}/telemetry/temp/c`)).toBe(true);
      expect(acl.check("subscribe", `devices/${device}/telemetry/#`).rule).toBe("devices/+/telemetry/#");
    }
  });

  it("commands and configures any device, but publishes nothing else", () => {
    expect(acl.check("publish", "devices/dev-1/commands/reboot")).toMatchObject({
      allowed: true,
      rule: "devices/+/commands/#",
    });
    expect(acl.check("publish", "devices/dev-7/config")).toMatchObject({ allowed: true, rule: "devices/+/config" });
    expect(acl.check("publish", "devices/dev-1/telemetry").allowed).toBe(false);
    expect(acl.check("publish", "$SYS/broker/x").allowed).toBe(false);
    expect(acl.check("publish", "devices/+/commands/reboot").allowed).toBe(false); // wildcard in a name
  });
});

describe("deriveAcl", () => {
  it.each(["dev/1", "+", "#", "dev+1", "a#", "$SYS", "dev\u0000", ""])("refuses the CN %j", (cn) => {
    expect(() => deriveAcl(DEFAULT_ACL, "device", cn)).toThrow(/CN/);
    expect(() => deriveAcl(DEFAULT_ACL, "service", cn)).toThrow(/CN/);
  });

  it("does not let a CN use String.replace patterns", () => {
    // '$' is refused anyway; this guards the substitution itself against a future relaxation.
    const acl = deriveAcl({ r: { publish: ["x/{cn}/{cn}"], subscribe: [] } }, "r", "a.b");
    expect(acl.publishRules).toEqual(["x/a.b/a.b"]);
  });

  it.each(["unknown", "", "constructor", "__proto__", "toString", "hasOwnProperty"])(
    "denies everything for unknown role %j",
    (role) => {
      const acl = deriveAcl(DEFAULT_ACL, role, "dev-1");
      expect(acl.publishRules).toEqual([]);
      expect(acl.subscribeRules).toEqual([]);
      for (const topic of ["devices/dev-1/telemetry", "#", "a"]) {
        const verdict = acl.check("publish", topic);
        expect(verdict.allowed).toBe(false);
        expect(acl.check("subscribe", topic).allowed).toBe(false);
        expect(acl.canReceive(topic)).toBe(false);
      }
      expect(acl.check("publish", "devices/dev-1/telemetry").reason).toMatch(/unknown role/);
    },
  );

  it("throws on an invalid template, naming it", () => {
    const config: AclConfig = { broken: { publish: ["devices/{cn}/a#"], subscribe: [] } };
    expect(() => deriveAcl(config, "broken", "dev-1")).toThrow(/devices\/\{cn\}\/a#/);
    const config2: AclConfig = { broken: { publish: [], subscribe: ["devices/#/{cn}"] } };
    expect(() => deriveAcl(config2, "broken", "dev-1")).toThrow(/devices\/#\/\{cn\}/);
    expect(() => deriveAcl({ broken: { publish: [""], subscribe: [] } }, "broken", "dev-1")).toThrow(/template/);
  });

  it("allows '$' topics only through a rule that literally starts with '$'", () => {
    const config: AclConfig = {
      monitor: { publish: [], subscribe: ["$SYS/broker/#", "#"] },
    };
    const acl = deriveAcl(config, "monitor", "mon-1");
    expect(acl.check("subscribe", "$SYS/broker/load")).toMatchObject({ allowed: true, rule: "$SYS/broker/#" });
    expect(acl.check("subscribe", "$SYS/#").allowed).toBe(false); // wider than $SYS/broker/#, and '#' never reaches '$'
    expect(acl.check("subscribe", "a/b")).toMatchObject({ allowed: true, rule: "#" });
    expect(acl.canReceive("$SYS/broker/load")).toBe(true);
    expect(acl.canReceive("$SYS/other")).toBe(false);
  });
});

describe("explainAcl", () => {
  it("explains an allow with the concrete rule", () => {
    expect(explainAcl(DEFAULT_ACL, "device", "dev-1", "publish", "devices/dev-1/telemetry")).toBe(
      "ALLOW publish devices/dev-1/telemetry (role device, rule devices/dev-1/telemetry)",
    );
    expect(explainAcl(DEFAULT_ACL, "service", "svc", "subscribe", "devices/dev-3/telemetry/#")).toBe(
      "ALLOW subscribe devices/dev-3/telemetry/# (role service, rule devices/+/telemetry/#)",
    );
  });

  it("explains a deny", () => {
    expect(explainAcl(DEFAULT_ACL, "device", "dev-1", "subscribe", "#")).toBe(
      "DENY subscribe # (role device): no subscribe rule covers this filter",
    );
    expect(explainAcl(DEFAULT_ACL, "device", "dev-1", "publish", "devices/dev-2/telemetry")).toBe(
      "DENY publish devices/dev-2/telemetry (role device): no publish rule matches this topic",
    );
    expect(explainAcl(DEFAULT_ACL, "device", "dev-1", "publish", "a/+")).toMatch(
      /^DENY publish a\/\+ \(role device\): invalid topic name/,
    );
    expect(explainAcl(DEFAULT_ACL, "nobody", "dev-1", "publish", "a")).toMatch(
      /^DENY publish a \(role nobody\): unknown role/,
    );
  });

  it("reports a refused CN as a deny instead of throwing", () => {
    expect(explainAcl(DEFAULT_ACL, "device", "+", "subscribe", "devices/+/commands/#")).toMatch(
      /^DENY subscribe devices\/\+\/commands\/# \(role device\): certificate CN "\+"/,
    );
  });

  it("always produces a single line", () => {
    const line = explainAcl(DEFAULT_ACL, "device", "dev-1", "publish", "devices/dev-1/state\nALLOW fake");
    expect(line).not.toContain("\n");
    expect(line).toMatch(/^DENY publish "devices\/dev-1\/state\\nALLOW fake"/);
  });
});
