import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBrowser, screenshot, type OpenBrowser } from "../helpers/browser.js";
import { killChildren, spawnTracked } from "../helpers/cli.js";
import { startTestFleetgate, type TestFleetgate } from "../helpers/fleetgate.js";

const ROOT = resolve(import.meta.dirname, "..", "..");

/** Opens a report file and fails if it asks the network for anything (it must be self-contained). */
async function openReport(page: Page, file: string): Promise<void> {
  const requests: string[] = [];
  page.on("request", (request) => requests.push(request.url()));
  await page.goto(pathToFileURL(file).href);
  expect(requests).toEqual([pathToFileURL(file).href]);
}

const numbers = (page: Page, selector: string, attribute: string) =>
  page.$$eval(selector, (nodes, name) => nodes.map((n) => Number(n.getAttribute(name))), attribute);

describe("HTML reports with charts, opened in Chromium", { timeout: 120_000 }, () => {
  let fg: TestFleetgate;
  let browser: OpenBrowser;
  const out = mkdtempSync(join(tmpdir(), "fleetgate-reports-"));

  beforeAll(async () => {
    fg = await startTestFleetgate();
    browser = await openBrowser();
  });
  afterAll(async () => {
    await killChildren();
    await browser?.close();
    await fg?.close();
    rmSync(out, { recursive: true, force: true });
  });

  it("fleetgate-sim --report: online devices with kicks and refusals, message rates, latency, enrollment histogram", async () => {
    const file = join(out, "sim.html");
    const args = ["--import", "tsx", join(ROOT, "device-sim/cli.ts"), "--data", fg.dataDir, "--devices", "8"];
    const sim = spawnTracked(process.execPath, [
      ...args,
      ...["--rate", "4", "--duration", "8s", "--scenario", "revoke", "--revoke", "2", "--revoke-at", "4s"],
      ...["--max-refusals", "2", "--no-progress", "--report", file],
    ]);
    const result = await sim.exited;
    expect(result.stderr).toContain(`report written to ${file}`);
    const { page } = browser;
    await openReport(page, file);
    expect(await page.locator("h1").textContent()).toBe("fleetgate-sim: scenario revoke");
    const online = await numbers(page, "svg#chart-online path[data-series]", "data-points");
    expect(online).toHaveLength(1);
    expect(online[0]).toBeGreaterThan(4); // a sample a second
    expect(await page.locator('svg#chart-online line.marker[data-kind="revocation"]').count()).toBe(2);
    expect(await page.locator('svg#chart-online line.marker[data-kind="kick"]').count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator('svg#chart-online line.marker[data-kind="refusal"]').count()).toBeGreaterThanOrEqual(2);
    const messages = await numbers(page, "svg#chart-messages path[data-series]", "data-points");
    expect(messages).toHaveLength(2);
    expect(Math.min(...messages)).toBeGreaterThan(3);
    expect((await numbers(page, "svg#chart-latency path[data-series]", "data-points")).every((n) => n > 0)).toBe(true);
    const histogram = await numbers(page, "svg#chart-enrollment rect[data-count]", "data-count");
    expect(histogram.reduce((a, b) => a + b, 0)).toBe(8); // every device enrolled once
    await screenshot(page, "report-sim");
  });

  it("npm run bench -- --html: a bar chart per figure, fleetgate next to Mosquitto", async () => {
    const file = join(out, "bench.html");
    const bench = spawnTracked(process.execPath, [
      ...["--import", "tsx", join(ROOT, "bench/all.ts")],
      ...["--from", join(ROOT, "test/fixtures/bench-report.json"), "--html", file],
    ]);
    expect((await bench.exited).code).toBe(0);
    const { page } = browser;
    await openReport(page, file);
    expect(await page.locator('svg[data-chart="bar"]').count()).toBe(8);
    const handshake = page.locator("section", { hasText: "Broker CPU per mTLS handshake" });
    const bars = await handshake
      .locator("g.bar")
      .evaluateAll((nodes) => nodes.map((n) => [n.getAttribute("data-label"), Number(n.getAttribute("data-value"))]));
    expect(bars).toEqual([
      ["fleetgate", 4560],
      ["Mosquitto", 3250],
    ]);
    expect(await handshake.textContent()).toContain("1.4× Mosquitto");
    expect(await page.locator("g.target").count()).toBe(3); // enrollments/s, p99 latency, revoke p99
    await screenshot(page, "report-bench");
  });
});
