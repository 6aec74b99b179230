import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { expect } from "vitest";
import type { TestFleetgate } from "../helpers/fleetgate.js";
import { recordCertificate } from "../helpers/registry.js";

/** The operator credential `fleetgate init` wrote (what `operator export admin --p12` would package). */
export function operatorPem(fg: TestFleetgate, name = "admin"): { cert: Buffer; key: Buffer } {
  const dir = join(fg.dataDir, "operators");
  return { cert: readFileSync(join(dir, `${name}.crt`)), key: readFileSync(join(dir, `${name}.key`)) };
}

export const adminOrigin = (fg: TestFleetgate): string => `https://localhost:${fg.running.ports.admin}`;

/**
 * A fleet to page through: `count` devices `fleet-0001`… recorded at the port (enrolling each over
 * HTTPS would only slow the test down), every tenth one's certificate expiring within a week.
 */
export async function seedFleet(fg: TestFleetgate, count: number): Promise<void> {
  const now = Date.now();
  for (let i = 1; i <= count; i++) {
    const id = `fleet-${String(i).padStart(4, "0")}`;
    const notAfter = now + (i % 10 === 0 ? 3 : 200) * 86_400_000;
    const certificate = { serial: `5eed${i.toString(16).padStart(8, "0")}`, deviceId: id, role: "device" };
    await recordCertificate(fg.running.registry, {
      ...certificate,
      profile: "device",
      pem: "",
      notBefore: now,
      notAfter,
    });
  }
}

/** Marks the page's window; `expectSamePage` then proves no reload or navigation happened in between. */
export async function markPage(page: Page): Promise<void> {
  await page.evaluate(() => ((window as unknown as { __mark: number }).__mark = 42));
}

export async function expectSamePage(page: Page): Promise<void> {
  expect(await page.evaluate(() => (window as unknown as { __mark?: number }).__mark)).toBe(42);
}

/** Whatever the browser console or the page reported as an error (a CSP violation is one). */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  return errors;
}
