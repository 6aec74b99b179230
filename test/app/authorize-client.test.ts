import { describe, expect, it, vi } from "vitest";
import {
  authorizeClient,
  type AdmissionDeps,
  type ConnectAttempt,
  type PeerCertificate,
} from "../../src/app/authorize-client.js";
import { DEFAULT_ACL } from "../../src/domain/acl.js";
import { MQTT_REFUSALS, type MqttRefusal } from "../../src/domain/mqtt-refusals.js";
import type { CertificateState } from "../../src/ports.js";

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const DAY = 86_400_000;

/** What the registry says of an active certificate of dev-1 (the serial of every test peer). */
function activeState(serial: string): CertificateState {
  return {
    serial,
    deviceId: "dev-1",
    status: "active",
    notBefore: NOW - 1000,
    notAfter: NOW + 1000,
    deviceStatus: "active",
  };
}
const revokedState = async (serial: string): Promise<CertificateState> => ({
  ...activeState(serial),
  status: "revoked",
});

function deps(overrides: Partial<AdmissionDeps> = {}): AdmissionDeps & { certificateState: ReturnType<typeof vi.fn> } {
  const certificateState = vi.fn(async (serial: string): Promise<CertificateState | undefined> => activeState(serial));
  return {
    certificateState,
    acl: DEFAULT_ACL,
    keepalive: { min: 0, max: 3600 },
    clock: { now: () => NOW },
    ...overrides,
  } as AdmissionDeps & {
    certificateState: ReturnType<typeof vi.fn>;
  };
}

function peer(
  overrides: Partial<PeerCertificate["facts"]> = {},
  validity: Partial<Pick<PeerCertificate, "notBefore" | "notAfter">> = {},
): PeerCertificate {
  return {
    facts: { serial: "00:AB:cd:01", commonNames: ["dev-1"], roles: ["device"], ...overrides },
    notBefore: NOW - DAY,
    notAfter: NOW + DAY,
    ...validity,
  };
}

function attempt(overrides: Partial<ConnectAttempt> = {}): ConnectAttempt {
  return { peer: peer(), clientId: "dev-1", clean: true, keepalive: 60, ...overrides };
}

async function refusalOf(d: AdmissionDeps, a: ConnectAttempt): Promise<MqttRefusal | "admitted"> {
  const result = await authorizeClient(d, a);
  return result.ok ? "admitted" : result.refusal;
}

describe("authorizeClient", () => {
  it("admits an active device whose client id is its CN, with its role's ACL; asks the registry with the normalized serial", async () => {
    const d = deps();
    const result = await authorizeClient(d, attempt());
    expect(result).toMatchObject({
      ok: true,
      clientId: "dev-1",
      identity: { deviceId: "dev-1", role: "device", serial: "abcd01" },
    });
    if (!result.ok) throw new Error("expected admission");
    expect(result.acl.check("publish", "devices/dev-1/telemetry").allowed).toBe(true);
    expect(result.acl.check("publish", "devices/dev-2/telemetry").allowed).toBe(false);
    expect(d.certificateState).toHaveBeenCalledExactlyOnceWith("abcd01");
  });

  it("gives an empty client id with CleanSession=1 the CN [MQTT-3.1.3-6]", async () => {
    const result = await authorizeClient(deps(), attempt({ clientId: "" }));
    expect(result).toMatchObject({ ok: true, clientId: "dev-1" });
  });

  it("admits the service role with its fleet-wide ACL", async () => {
    const result = await authorizeClient(
      deps({ certificateState: async (serial) => ({ ...activeState(serial), deviceId: "svc-1" }) }),
      attempt({ peer: peer({ commonNames: ["svc-1"], roles: ["service"] }), clientId: "svc-1" }),
    );
    if (!result.ok) throw new Error(`refused: ${result.refusal}`);
    expect(result.acl.check("subscribe", "devices/+/telemetry/#").allowed).toBe(true);
    expect(result.acl.check("subscribe", "devices/#").allowed).toBe(false);
  });

  describe("each refusal, with its CONNACK code", () => {
    const cases: [string, MqttRefusal, number, () => [AdmissionDeps, ConnectAttempt]][] = [
      ["no verified certificate", "client_certificate_missing", 5, () => [deps(), attempt({ peer: null })]],
      ["no CN", "certificate_identity_invalid", 5, () => [deps(), attempt({ peer: peer({ commonNames: [] }) })]],
      [
        "two CNs",
        "certificate_identity_invalid",
        5,
        () => [deps(), attempt({ peer: peer({ commonNames: ["dev-1", "dev-2"] }) })],
      ],
      [
        "a CN with a wildcard",
        "certificate_identity_invalid",
        5,
        () => [deps(), attempt({ peer: peer({ commonNames: ["+"] }), clientId: "+" })],
      ],
      [
        "a CN with a level separator",
        "certificate_identity_invalid",
        5,
        () => [deps(), attempt({ peer: peer({ commonNames: ["dev-1/commands"] }), clientId: "dev-1/commands" })],
      ],
      [
        "a CN starting with $",
        "certificate_identity_invalid",
        5,
        () => [deps(), attempt({ peer: peer({ commonNames: ["$SYS"] }), clientId: "$SYS" })],
      ],
      ["no role", "certificate_identity_invalid", 5, () => [deps(), attempt({ peer: peer({ roles: [] }) })]],
      [
        "two roles",
        "certificate_identity_invalid",
        5,
        () => [deps(), attempt({ peer: peer({ roles: ["device", "service"] }) })],
      ],
      ["not yet valid", "certificate_expired", 5, () => [deps(), attempt({ peer: peer({}, { notBefore: NOW + 1 }) })]],
      ["expired", "certificate_expired", 5, () => [deps(), attempt({ peer: peer({}, { notAfter: NOW - 1 }) })]],
      [
        "unknown, superseded or revoked serial",
        "certificate_not_active",
        5,
        () => [deps({ certificateState: revokedState }), attempt()],
      ],
      ["client id of another device", "client_id_mismatch", 2, () => [deps(), attempt({ clientId: "dev-2" })]],
      ["client id differing in case", "client_id_mismatch", 2, () => [deps(), attempt({ clientId: "DEV-1" })]],
      [
        "empty client id with CleanSession=0",
        "client_id_empty_persistent",
        2,
        () => [deps(), attempt({ clientId: "", clean: false })],
      ],
      ["keep-alive above the maximum", "keepalive_out_of_bounds", 5, () => [deps(), attempt({ keepalive: 3601 })]],
      [
        "keep-alive below a configured minimum",
        "keepalive_out_of_bounds",
        5,
        () => [deps({ keepalive: { min: 30, max: 3600 } }), attempt({ keepalive: 29 })],
      ],
      [
        "keep-alive 0 (disabled) when a minimum is configured",
        "keepalive_out_of_bounds",
        5,
        () => [deps({ keepalive: { min: 30, max: 3600 } }), attempt({ keepalive: 0 })],
      ],
      [
        "a role without configured permissions",
        "role_unknown",
        5,
        () => [deps(), attempt({ peer: peer({ roles: ["gateway"] }) })],
      ],
    ];
    it.each(cases)("%s → %s (CONNACK %i)", async (_name, refusal, code, make) => {
      const [d, a] = make();
      const result = await authorizeClient(d, a);
      expect(result).toMatchObject({ ok: false, refusal });
      expect(MQTT_REFUSALS[refusal].returnCode).toBe(code);
      if (!result.ok) expect(result.detail).not.toBe("");
    });
  });

  it("accepts the exact validity bounds (notBefore and notAfter inclusive) and keep-alive 0 when no minimum is set", async () => {
    expect(await refusalOf(deps(), attempt({ peer: peer({}, { notBefore: NOW }) }))).toBe("admitted");
    expect(await refusalOf(deps(), attempt({ peer: peer({}, { notAfter: NOW }) }))).toBe("admitted");
    expect(await refusalOf(deps(), attempt({ keepalive: 0 }))).toBe("admitted");
    expect(await refusalOf(deps(), attempt({ keepalive: 3600 }))).toBe("admitted");
  });

  it("checks in order: certificate, identity, dates, registry, client id, keep-alive, role — the first failure wins", async () => {
    const allWrong = (): ConnectAttempt =>
      attempt({
        peer: peer({ roles: ["gateway", "x"] }, { notAfter: NOW - 1 }),
        clientId: "",
        clean: false,
        keepalive: 99_999,
      });
    const inactive = { certificateState: vi.fn(revokedState) };
    // Fix one problem at a time, from the first check on; the reported refusal moves down the list.
    const steps: [MqttRefusal, ConnectAttempt, Partial<AdmissionDeps>][] = [
      ["client_certificate_missing", { ...allWrong(), peer: null }, inactive],
      ["certificate_identity_invalid", allWrong(), inactive],
      ["certificate_expired", { ...allWrong(), peer: peer({ roles: ["gateway"] }, { notAfter: NOW - 1 }) }, inactive],
      ["certificate_not_active", { ...allWrong(), peer: peer({ roles: ["gateway"] }) }, inactive],
      ["client_id_empty_persistent", { ...allWrong(), peer: peer({ roles: ["gateway"] }) }, {}],
      ["keepalive_out_of_bounds", { ...allWrong(), peer: peer({ roles: ["gateway"] }), clientId: "dev-1" }, {}],
      ["role_unknown", { ...allWrong(), peer: peer({ roles: ["gateway"] }), clientId: "dev-1", keepalive: 60 }, {}],
    ];
    for (const [expected, a, overrides] of steps) expect(await refusalOf(deps(overrides), a)).toBe(expected);
  });

  it("does not ask the registry when an earlier check already refused", async () => {
    for (const a of [
      attempt({ peer: null }),
      attempt({ peer: peer({ commonNames: [] }) }),
      attempt({ peer: peer({}, { notAfter: NOW - 1 }) }),
    ]) {
      const d = deps();
      await authorizeClient(d, a);
      expect(d.certificateState).not.toHaveBeenCalled();
    }
  });

  it("reports a takeover attempt with an inactive certificate as certificate_not_active (CONNACK 5): the registry is asked before the client id", async () => {
    const result = await authorizeClient(deps({ certificateState: revokedState }), attempt({ clientId: "dev-2" }));
    expect(result).toMatchObject({ ok: false, refusal: "certificate_not_active", detail: "serial abcd01 of dev-1" });
  });

  it("lets a registry failure propagate (the broker answers CONNACK 3) instead of admitting", async () => {
    const d = deps({ certificateState: async () => Promise.reject(new Error("database is locked")) });
    await expect(authorizeClient(d, attempt())).rejects.toThrow("database is locked");
  });
});
