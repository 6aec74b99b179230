import { describe, expect, it } from "vitest";
import { crlListingFrom, listedAsRevoked, listedOnCrl, prunable } from "../../src/domain/certificate-standing.js";
import { FleetgateError } from "../../src/domain/errors.js";
import {
  activeCa,
  assertRetirable,
  nextCaId,
  trustedCas,
  withActivated,
  type CaFacts,
} from "../../src/domain/issuing-cas.js";

const DAY = 86_400_000;
const NOW = 1_700_000_000_000;

describe("issuing CA set", () => {
  const cas: CaFacts[] = [
    { id: "ca-1", state: "retired" },
    { id: "ca-2", state: "retiring" },
    { id: "ca-3", state: "retiring" },
    { id: "ca-4", state: "active" },
  ];

  it("numbers a new CA after every id ever used", () => {
    expect(nextCaId([])).toBe("ca-1");
    expect(nextCaId(["ca-1", "ca-10", "ca-2", "not-an-id"])).toBe("ca-11");
  });

  it("trusts the active CA first, then the retiring ones newest first; never a retired one", () => {
    expect(trustedCas(cas).map((ca) => ca.id)).toEqual(["ca-4", "ca-3", "ca-2"]);
  });

  it("activates a new CA and moves the active one to retiring", () => {
    const next = withActivated(cas, { id: "ca-5", state: "active" });
    expect(next.map((ca) => `${ca.id}:${ca.state}`)).toEqual([
      "ca-1:retired",
      "ca-2:retiring",
      "ca-3:retiring",
      "ca-4:retiring",
      "ca-5:active",
    ]);
    expect(() => withActivated(cas, { id: "ca-4", state: "active" })).toThrow(/exists already/);
    expect(() => withActivated(cas, { id: "CA 5", state: "active" })).toThrow(/not an issuing CA id/);
  });

  it("refuses a set without exactly one active CA", () => {
    expect(() => activeCa([{ id: "ca-1", state: "retiring" }])).toThrow(/exactly one active/);
    expect(() =>
      activeCa([
        { id: "ca-1", state: "active" },
        { id: "ca-2", state: "active" },
      ]),
    ).toThrow(/found 2/);
  });
});

describe("assertRetirable", () => {
  const idle = { validCertificates: 0, activeOperators: 0, lastNotAfter: null, signsServerCertificate: false };
  const code = (run: () => unknown) => {
    try {
      run();
      return "ok";
    } catch (error) {
      return error instanceof FleetgateError ? `${error.code}: ${error.detail}` : String(error);
    }
  };
  const retiring: CaFacts = { id: "ca-1", state: "retiring" };

  it("allows a retiring CA that vouches for nothing", () => {
    expect(code(() => assertRetirable(retiring, "ca-1", idle, false))).toBe("ok");
  });

  it("refuses an unknown CA, the active one, and one an operator still depends on (even forced)", () => {
    expect(code(() => assertRetirable(undefined, "ca-9", idle, true))).toBe("not_found: no issuing CA ca-9");
    expect(code(() => assertRetirable({ id: "ca-2", state: "active" }, "ca-2", idle, true))).toMatch(
      /^ca_in_use: ca-2 is the active issuing CA/,
    );
    expect(code(() => assertRetirable(retiring, "ca-1", { ...idle, activeOperators: 1 }, true))).toMatch(
      /^ca_in_use: 1 active operator/,
    );
  });

  it("refuses while certificates or the server certificate are still valid, unless forced", () => {
    const busy = { ...idle, validCertificates: 3, lastNotAfter: NOW };
    expect(code(() => assertRetirable(retiring, "ca-1", busy, false))).toBe(
      `ca_in_use: 3 certificate(s) issued by ca-1 are still valid (the last expires ${new Date(NOW).toISOString()}); --force revokes them`,
    );
    expect(code(() => assertRetirable(retiring, "ca-1", { ...idle, signsServerCertificate: true }, false))).toMatch(
      /server-cert renew/,
    );
    expect(code(() => assertRetirable(retiring, "ca-1", { ...busy, signsServerCertificate: true }, true))).toBe("ok");
  });
});

describe("what relying parties are told (CRL, OCSP) and what may be pruned", () => {
  const at = (status: "active" | "revoked" | "superseded", notAfter: number) => ({ status, notAfter });

  it("tells relying parties that superseded and revoked certificates are revoked", () => {
    expect(listedAsRevoked(at("active", NOW))).toBe(false);
    expect(listedAsRevoked(at("superseded", NOW))).toBe(true);
    expect(listedAsRevoked(at("revoked", NOW))).toBe(true);
  });

  it("lists a superseded certificate until it expires, a revoked one for a CRL validity more", () => {
    expect(listedOnCrl(at("superseded", NOW), NOW, DAY)).toBe(true);
    expect(listedOnCrl(at("superseded", NOW), NOW + 1, DAY)).toBe(false);
    expect(listedOnCrl(at("revoked", NOW), NOW + DAY, DAY)).toBe(true);
    expect(listedOnCrl(at("revoked", NOW), NOW + DAY + 1, DAY)).toBe(false);
    expect(listedOnCrl(at("active", NOW + DAY), NOW, DAY)).toBe(false);
    expect(crlListingFrom(NOW, DAY)).toBe(NOW - DAY);
  });

  it("prunes only superseded certificates past their retention, never one a CRL still lists", () => {
    const retention = DAY;
    expect(prunable(at("superseded", NOW - DAY - 1), NOW, retention)).toBe(true);
    expect(prunable(at("superseded", NOW - DAY), NOW, retention)).toBe(false);
    expect(prunable(at("revoked", NOW - 100 * DAY), NOW, retention)).toBe(false);
    expect(prunable(at("active", NOW - 100 * DAY), NOW, retention)).toBe(false);
    // Whatever the retention, a prunable certificate is off every CRL signed from now on.
    for (const retentionMs of [0, 1, DAY]) {
      for (const notAfter of [NOW - 2 * DAY, NOW - 1, NOW - retentionMs - 1]) {
        const certificate = at("superseded", notAfter);
        if (prunable(certificate, NOW, retentionMs)) expect(listedOnCrl(certificate, NOW, DAY)).toBe(false);
      }
    }
  });
});
