import { writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, configFromEnv, loadConfig, parseConfig, type Config } from "../src/config.js";
import { DEFAULT_ALLOWED_KEYS } from "../src/domain/csr-policy.js";
import { makeTempDir, type TempDir } from "./helpers/certs.js";

const dirs: TempDir[] = [];
afterAll(() => dirs.forEach((d) => d.remove()));

/** A data dir holding `fleetgate.json` with the given content (object → JSON, string → as is). */
function dataDirWithFile(content?: unknown): string {
  const tmp = makeTempDir("fleetgate-config-");
  dirs.push(tmp);
  if (content !== undefined) {
    writeFileSync(join(tmp.dir, "fleetgate.json"), typeof content === "string" ? content : JSON.stringify(content));
  }
  return tmp.dir;
}

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("parseConfig defaults", () => {
  const config = parseConfig({});

  it("listens for enrollment on 0.0.0.0:8443 with a 16 KiB body limit", () => {
    expect(config.enroll.host).toBe("0.0.0.0");
    expect(config.enroll.port).toBe(8443);
    expect(config.enroll.bodyLimit).toBe(16 * 1024);
    expect(config.enroll.rateLimit.perAddress.perSecond).toBeGreaterThan(0);
    expect(config.enroll.rateLimit.perToken.burst).toBeGreaterThan(0);
  });

  it("uses ./data (made absolute), info logs, the default key list and a 90-day device profile", () => {
    expect(config.dataDir).toBe(resolve("./data"));
    expect(config.logLevel).toBe("info");
    expect(config.allowedKeys).toEqual([...DEFAULT_ALLOWED_KEYS]);
    expect(config.profiles["device"]).toEqual({ role: "device", lifetime: 90 * 86_400_000 });
    expect(config.hostnames).toEqual([]);
  });

  it("gives every listener a port", () => {
    for (const listener of [config.enroll, config.mqtt, config.pki, config.admin, config.metrics]) {
      expect(Number.isInteger(listener.port)).toBe(true);
    }
    expect(config.mqtt.port).toBe(8883);
  });
});

describe("listener timeouts and connection caps", () => {
  const config = parseConfig({});

  it("bound every HTTP(S) listener by default, TLS handshakes at 10 s", () => {
    const shared = {
      connectionTimeout: 30_000,
      keepAliveTimeout: 5_000,
      headersTimeout: 10_000,
      requestTimeout: 30_000,
    };
    expect(config.enroll).toMatchObject({ ...shared, handshakeTimeout: 10_000, maxConnections: 1000 });
    expect(config.admin).toMatchObject({
      ...shared,
      connectionTimeout: 120_000,
      handshakeTimeout: 10_000,
      maxConnections: 64,
    });
    expect(config.pki).toMatchObject({ ...shared, maxConnections: 512 });
    expect(config.metrics).toMatchObject({ ...shared, maxConnections: 32 });
    expect(config.pki).not.toHaveProperty("handshakeTimeout"); // plain HTTP
    expect(config.admin.rateLimit).toEqual({ perSecond: 5, burst: 20 });
    expect(config.admin.refusalAuditInterval).toBe(60_000);
  });

  it("takes durations, and refuses a header timeout longer than the request timeout (Node would throw)", () => {
    expect(parseConfig({ admin: { handshakeTimeout: "2s", refusalAuditInterval: "5m" } }).admin).toMatchObject({
      handshakeTimeout: 2_000,
      refusalAuditInterval: 300_000,
    });
    const error = configError(() => parseConfig({ metrics: { headersTimeout: "40s", requestTimeout: "30s" } }));
    expect(error.message).toContain("metrics.headersTimeout: headersTimeout must not exceed requestTimeout");
    expect(configError(() => parseConfig({ pki: { handshakeTimeout: "1s" } })).message).toContain("pki");
    expect(configError(() => parseConfig({ enroll: { maxConnections: 0 } })).message).toContain(
      "enroll.maxConnections",
    );
  });
});

describe("parseConfig validation", () => {
  it.each<[string, Record<string, unknown>, string]>([
    ["a port above 65535", { enroll: { port: 70000 } }, "enroll.port"],
    ["a negative port", { mqtt: { port: -1 } }, "mqtt.port"],
    ["a fractional port", { metrics: { port: 1.5 } }, "metrics.port"],
    ["a port given as text", { enroll: { port: "8443" } }, "enroll.port"],
    ["an empty host", { admin: { host: "" } }, "admin.host"],
    ["an unknown log level", { logLevel: "loud" }, "logLevel"],
    ["a body limit over 1 MiB", { enroll: { bodyLimit: 2 * 1048576 } }, "enroll.bodyLimit"],
    [
      "a zero rate",
      { enroll: { rateLimit: { perAddress: { perSecond: 0, burst: 1 } } } },
      "enroll.rateLimit.perAddress.perSecond",
    ],
    ["a bad duration", { mqtt: { handshakeTimeout: "ten seconds" } }, "mqtt.handshakeTimeout"],
    ["an unknown key type", { allowedKeys: ["ed25519"] }, "allowedKeys.0"],
    ["an empty key list", { allowedKeys: [] }, "allowedKeys"],
    [
      "a bad profile lifetime",
      { profiles: { device: { role: "device", lifetime: "0d" } } },
      "profiles.device.lifetime",
    ],
    ["a hostname with a slash", { hostnames: ["a/b"] }, "hostnames.0"],
    ["a public URL that is not http(s)", { pki: { publicUrl: "ftp://x" } }, "pki.publicUrl"],
  ])("refuses %s and names %s", (_label, input, key) => {
    const error = configError(() => parseConfig(input));
    expect(error.message).toContain(`${key}:`);
  });

  it("refuses unknown keys rather than ignoring a typo", () => {
    const error = configError(() => parseConfig({ enrol: { port: 1 } }));
    expect(error.message).toMatch(/enrol/);
    expect(configError(() => parseConfig({ enroll: { prot: 1 } })).message).toMatch(/prot/);
  });

  it("names every bad key, not just the first", () => {
    const error = configError(() => parseConfig({ enroll: { port: 70000 }, mqtt: { port: -1 } }));
    expect(error.message).toContain("enroll.port:");
    expect(error.message).toContain("mqtt.port:");
  });

  it("says what a port allows", () => {
    expect(configError(() => parseConfig({ enroll: { port: 70000 } })).message).toMatch(/65535/);
  });

  it("derives pki.publicUrl from pki.port unless it is set", () => {
    expect(parseConfig({}).pki.publicUrl).toBe("http://localhost:8880");
    expect(parseConfig({ pki: { port: 18880 } }).pki.publicUrl).toBe("http://localhost:18880");
    expect(parseConfig({ pki: { port: 0 } }).pki.publicUrl).toBe("http://localhost:8880");
    expect(parseConfig({ pki: { port: 18880, publicUrl: "https://pki.example.com" } }).pki.publicUrl).toBe(
      "https://pki.example.com",
    );
  });

  it("accepts port 0 (ephemeral) everywhere", () => {
    const zero = { port: 0 };
    const config = parseConfig({ enroll: zero, mqtt: zero, pki: zero, admin: zero, metrics: zero });
    expect([config.enroll.port, config.mqtt.port, config.pki.port, config.admin.port, config.metrics.port]).toEqual([
      0, 0, 0, 0, 0,
    ]);
  });

  it("parses durations", () => {
    expect(parseConfig({ mqtt: { handshakeTimeout: "5s" } }).mqtt.handshakeTimeout).toBe(5000);
    expect(
      parseConfig({ profiles: { device: { role: "device", lifetime: "30d" } } }).profiles["device"]?.lifetime,
    ).toBe(30 * 86_400_000);
  });
});

describe("frozen result", () => {
  it("cannot be changed at any depth", () => {
    const config: Config = parseConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.enroll)).toBe(true);
    expect(Object.isFrozen(config.enroll.rateLimit.perAddress)).toBe(true);
    expect(Object.isFrozen(config.allowedKeys)).toBe(true);
    expect(() => {
      (config.enroll as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => config.allowedKeys.push("rsa:1024")).toThrow(TypeError);
    expect(config.enroll.port).toBe(8443);
  });

  it("does not share the defaults between two results", () => {
    const a = parseConfig({});
    const b = parseConfig({ profiles: { device: { role: "device", lifetime: "1d" } } });
    expect(a.profiles["device"]?.lifetime).toBe(90 * 86_400_000);
    expect(b.profiles["device"]?.lifetime).toBe(86_400_000);
  });
});

describe("configFromEnv", () => {
  it("maps FLEETGATE_* variables onto keys, numbers as numbers", () => {
    expect(
      configFromEnv({
        FLEETGATE_DATA: "/srv/fg",
        FLEETGATE_ENROLL_PORT: "9443",
        FLEETGATE_MQTT_HOST: "127.0.0.1",
        FLEETGATE_HOSTNAMES: "gw.example, 10.0.0.1 ,",
        FLEETGATE_LOG_LEVEL: "warn",
        UNRELATED: "x",
      }),
    ).toEqual({
      dataDir: "/srv/fg",
      enroll: { port: 9443 },
      mqtt: { host: "127.0.0.1" },
      hostnames: ["gw.example", "10.0.0.1"],
      logLevel: "warn",
    });
  });

  it("ignores empty variables", () => {
    expect(configFromEnv({ FLEETGATE_ENROLL_PORT: "" })).toEqual({});
  });
});

describe("loadConfig: file < environment < flags", () => {
  const file = {
    logLevel: "warn",
    enroll: { port: 1111, host: "10.0.0.1" },
    mqtt: { port: 1112 },
    pki: { port: 1113 },
  };

  it("reads fleetgate.json from the data dir", () => {
    const dataDir = dataDirWithFile(file);
    const config = loadConfig({ dataDir }, {});
    expect(config.enroll.port).toBe(1111);
    expect(config.enroll.host).toBe("10.0.0.1");
    expect(config.logLevel).toBe("warn");
    expect(config.dataDir).toBe(dataDir);
    // Keys the file does not set keep their defaults.
    expect(config.enroll.bodyLimit).toBe(16384);
  });

  it("finds the data dir through FLEETGATE_DATA", () => {
    const dataDir = dataDirWithFile(file);
    expect(loadConfig({}, { FLEETGATE_DATA: dataDir }).mqtt.port).toBe(1112);
  });

  it("lets the environment override the file, key by key", () => {
    const dataDir = dataDirWithFile(file);
    const config = loadConfig({ dataDir }, { FLEETGATE_ENROLL_PORT: "2221", FLEETGATE_MQTT_PORT: "2222" });
    expect(config.enroll.port).toBe(2221);
    expect(config.mqtt.port).toBe(2222);
    expect(config.enroll.host).toBe("10.0.0.1"); // from the file: a sibling key is not wiped
    expect(config.pki.port).toBe(1113);
  });

  it("lets flags override both", () => {
    const dataDir = dataDirWithFile(file);
    const config = loadConfig(
      { dataDir, enroll: { port: 3331 }, logLevel: "error" },
      { FLEETGATE_ENROLL_PORT: "2221", FLEETGATE_MQTT_PORT: "2222", FLEETGATE_LOG_LEVEL: "debug" },
    );
    expect(config.enroll.port).toBe(3331);
    expect(config.logLevel).toBe("error");
    expect(config.mqtt.port).toBe(2222);
    expect(config.enroll.host).toBe("10.0.0.1");
  });

  it("a flag's data dir wins over FLEETGATE_DATA, and its file is the one read", () => {
    const flagged = dataDirWithFile({ enroll: { port: 4441 } });
    const envDir = dataDirWithFile({ enroll: { port: 4442 } });
    const config = loadConfig({ dataDir: flagged }, { FLEETGATE_DATA: envDir });
    expect(config.dataDir).toBe(flagged);
    expect(config.enroll.port).toBe(4441);
  });

  it("works without a config file", () => {
    const config = loadConfig({ dataDir: dataDirWithFile() }, {});
    expect(config.enroll.port).toBe(8443);
  });

  it("names the key when a value from the environment is invalid", () => {
    const error = configError(() => loadConfig({ dataDir: dataDirWithFile() }, { FLEETGATE_ENROLL_PORT: "99999" }));
    expect(error.message).toContain("enroll.port:");
    const text = configError(() => loadConfig({ dataDir: dataDirWithFile() }, { FLEETGATE_MQTT_PORT: "eighty" }));
    expect(text.message).toContain("mqtt.port:");
  });

  it("names the key when a value from the file is invalid", () => {
    const error = configError(() => loadConfig({ dataDir: dataDirWithFile({ enroll: { port: "high" } }) }, {}));
    expect(error.message).toContain("enroll.port:");
  });

  it("names the file when it is not a JSON object", () => {
    const dataDir = dataDirWithFile("{ not json");
    expect(configError(() => loadConfig({ dataDir }, {})).message).toContain(join(dataDir, "fleetgate.json"));
    const array = dataDirWithFile("[1, 2]");
    expect(configError(() => loadConfig({ dataDir: array }, {})).message).toMatch(/object/);
  });

  it("returns a frozen result", () => {
    const config = loadConfig({ dataDir: dataDirWithFile(file) }, {});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.enroll)).toBe(true);
  });
});

describe("profiles and ACL roles from configuration", () => {
  it("are merged over the built-in ones by name: shortening `device` keeps `service`", () => {
    const config = parseConfig({ profiles: { device: { role: "device", lifetime: "30s" } } });
    expect(config.profiles["device"]).toEqual({ role: "device", lifetime: 30_000 });
    expect(config.profiles["service"]?.role).toBe("service");
  });

  it("an ACL for a new role adds it; the built-in roles stay", () => {
    const config = parseConfig({ acl: { gateway: { publish: ["gateways/{cn}/#"], subscribe: [] } } });
    expect(Object.keys(config.acl).sort()).toEqual(["device", "gateway", "service"]);
  });

  it("a replaced role takes exactly the given templates", () => {
    const config = parseConfig({ acl: { device: { publish: ["devices/{cn}/up"], subscribe: [] } } });
    expect(config.acl["device"]).toEqual({ publish: ["devices/{cn}/up"], subscribe: [] });
  });

  it("a profiles value that is not an object is still refused by the schema", () => {
    expect(() => parseConfig({ profiles: "short" })).toThrow(ConfigError);
  });
});

describe("CA keys and the PKCS#11 token", () => {
  const pkcs11 = { module: "/usr/lib/softhsm/libsofthsm2.so", token: "fleetgate", keyLabel: "fleetgate-issuing" };

  it("defaults to file keys and a day of superseded-certificate retention, with no pkcs11 section", () => {
    const config = parseConfig({});
    expect(config.ca).toEqual({ key: "file", rootKey: "file", supersededRetention: 86_400_000 });
    expect(config.pkcs11).toBeUndefined();
  });

  it("reads the token from fleetgate.json and the environment; a label of digits stays a label", () => {
    const dataDir = dataDirWithFile({ pkcs11: { ...pkcs11, token: "from-file" }, ca: { key: "pkcs11" } });
    const config = loadConfig(
      {},
      {
        FLEETGATE_DATA: dataDir,
        FLEETGATE_PKCS11_TOKEN: "0042",
        FLEETGATE_PKCS11_PIN_FILE: "/etc/fleetgate/pin",
        FLEETGATE_CA_ROOT_KEY: "pkcs11",
      },
    );
    expect(config.pkcs11).toEqual({ ...pkcs11, token: "0042", pinFile: "/etc/fleetgate/pin", sessions: 4 });
    expect(config.ca).toMatchObject({ key: "pkcs11", rootKey: "pkcs11" });
    expect(loadConfig({ ca: { key: "file" } }, { FLEETGATE_DATA: dataDir }).ca.key).toBe("file");
  });

  it("refuses a token key without a token, and a PIN in the file", () => {
    expect(configError(() => parseConfig({ ca: { key: "pkcs11" } })).message).toContain(
      "pkcs11: ca.key is pkcs11: set pkcs11.module, pkcs11.token and pkcs11.keyLabel",
    );
    expect(configError(() => parseConfig({ ca: { rootKey: "pkcs11" } })).message).toContain("ca.rootKey is pkcs11");
    expect(configError(() => parseConfig({ pkcs11: { ...pkcs11, pin: "1234" } })).message).toContain(
      "the PIN is never read from fleetgate.json",
    );
    expect(configError(() => parseConfig({ ca: { key: "hsm" } })).message).toMatch(/ca\.key: /);
  });
});

describe("cluster.workers (serve --workers N)", () => {
  const clustered = { registry: "postgres://fg@127.0.0.1/fg", cluster: { redis: "redis://127.0.0.1:6379" } };

  it("defaults to one worker per core with Redis, and to 1 without", () => {
    expect(parseConfig(clustered).cluster.workers).toBe(availableParallelism());
    expect(parseConfig({}).cluster.workers).toBe(1);
  });

  it("takes FLEETGATE_WORKERS and a flag, the flag winning", () => {
    const dataDir = dataDirWithFile();
    const env = { FLEETGATE_WORKERS: "3", FLEETGATE_REGISTRY: clustered.registry, FLEETGATE_REDIS: "redis://x:6379" };
    expect(loadConfig({ dataDir }, env).cluster.workers).toBe(3);
    expect(loadConfig({ dataDir, cluster: { workers: 2 } }, env).cluster.workers).toBe(2);
  });

  it("refuses more than one worker without cluster mode, naming what it needs", () => {
    const error = configError(() => parseConfig({ cluster: { workers: 2 } }));
    expect(error.message).toContain("cluster.workers: 2 workers need cluster mode");
    expect(error.message).toContain("a SQLite registry serves one process");
    expect(parseConfig({ cluster: { workers: 1 } }).cluster.workers).toBe(1);
    expect(
      configError(() => parseConfig({ ...clustered, cluster: { ...clustered.cluster, workers: 0 } })).message,
    ).toContain("cluster.workers");
  });
});

describe("tlsSessions.ticketKeyRotation", () => {
  it("defaults to 12 h, comes from FLEETGATE_TLS_TICKET_KEY_ROTATION, and is bounded to 1 s – 7 d", () => {
    expect(parseConfig({}).tlsSessions.ticketKeyRotation).toBe(12 * 3_600_000);
    const fromEnv = configFromEnv({ FLEETGATE_TLS_TICKET_KEY_ROTATION: "90m" });
    expect(parseConfig(fromEnv).tlsSessions.ticketKeyRotation).toBe(90 * 60_000);
    expect(() => parseConfig({ tlsSessions: { ticketKeyRotation: "500ms" } })).toThrow(
      /tlsSessions\.ticketKeyRotation: must be from 1s to 7d/,
    );
    expect(() => parseConfig({ tlsSessions: { ticketKeyRotation: "8d" } })).toThrow(/from 1s to 7d/);
    expect(() => parseConfig({ tlsSessions: { rotation: "1h" } })).toThrow(ConfigError);
  });
});
