import { describe, expect, it } from "vitest";
import { createLogger } from "../src/logger.js";

/** What reaches the log stream for one logged object. */
function logged(fields: Record<string, unknown>): string {
  const lines: string[] = [];
  const logger = createLogger("info", { write: (line: string) => void lines.push(line) });
  logger.info(fields, "message");
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

const TOKEN = `fgt_${"S".repeat(43)}`;
const KEY = "-----BEGIN PRIVATE KEY-----\nSECRETKEY\n-----END PRIVATE KEY-----";

describe("logger redaction", () => {
  it.each([
    ["a top-level token", { token: TOKEN }],
    ["a request body token", { req: { body: { token: TOKEN } } }],
    ["a body token", { body: { token: TOKEN } }],
    [
      "an Authorization header on req",
      { req: { headers: { authorization: `Basic ${Buffer.from(`dev-1:${TOKEN}`).toString("base64")}` } } },
    ],
    ["an Authorization header", { headers: { authorization: `Bearer ${TOKEN}` } }],
    ["a bare authorization", { authorization: TOKEN }],
    ["a password", { credentials: { password: TOKEN } }],
    ["a private key", { privateKey: KEY }],
    ["a nested key PEM", { operator: { keyPem: KEY } }],
    ["a key", { tls: { key: KEY } }],
    ["a CSR in a body", { req: { body: { csr: "-----BEGIN CERTIFICATE REQUEST-----SECRETCSR" } } }],
  ])("censors %s", (_label, fields) => {
    const line = logged(fields);
    expect(line).toContain("[redacted]");
    expect(line).not.toContain("SSSSSSSS");
    expect(line).not.toContain("SECRET");
    expect(line).not.toContain(Buffer.from(`dev-1:${TOKEN}`).toString("base64"));
  });

  it("keeps what an operator needs", () => {
    const line = JSON.parse(
      logged({ service: "enroll", deviceId: "dev-1", serial: "ab", code: "token_used" }),
    ) as Record<string, unknown>;
    expect(line).toMatchObject({
      service: "enroll",
      deviceId: "dev-1",
      serial: "ab",
      code: "token_used",
      app: "fleetgate",
    });
  });
});
