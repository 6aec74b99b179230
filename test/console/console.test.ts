import type { MqttClient } from "mqtt";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBrowser, screenshot, type OpenBrowser } from "../helpers/browser.js";
import { connectDevice, enrollDevice, type EnrolledDevice } from "../helpers/devices.js";
import { opensslCsr, startTestFleetgate, type TestFleetgate } from "../helpers/fleetgate.js";
import { postJson } from "../helpers/https.js";
import { closed } from "../helpers/mqtt-kit.js";
import { adminOrigin, collectPageErrors, expectSamePage, markPage, operatorPem, seedFleet } from "./console-fixture.js";

/**
 * Story: an operator opens the console in a real Chromium (Debian's, through playwright-core) with
 * the operator certificate `fleetgate init` made, finds a connected device, revokes it, watches it
 * drop offline without reloading, hands out a token that a device then enrolls with, and checks the
 * audit log. Screenshots of every page land in test-artifacts/console/.
 */
describe("console: an operator in a real browser", { timeout: 120_000 }, () => {
  let fg: TestFleetgate;
  let browser: OpenBrowser;
  let page: Page;
  let dev1: EnrolledDevice;
  let dev2: EnrolledDevice;
  let errors: string[];
  const clients: MqttClient[] = [];
  const console = (path = "") => `${adminOrigin(fg)}/console/${path}`;

  beforeAll(async () => {
    fg = await startTestFleetgate();
    [dev1, dev2] = await Promise.all([enrollDevice(fg, "dev-1"), enrollDevice(fg, "dev-2")]);
    await seedFleet(fg, 120);
    browser = await openBrowser({ origin: adminOrigin(fg), credential: operatorPem(fg) });
    page = browser.page;
    errors = collectPageErrors(page);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await browser?.close();
    await fg?.close();
    dev1?.cleanup();
    dev2?.cleanup();
  });

  it("overview: fleet counts, live rate charts, refusals by reason, live stream up", async () => {
    clients.push(await connectDevice(fg, dev2));
    await page.goto(console());
    await expect.poll(() => page.locator("h1").textContent()).toBe("Overview");
    const stat = (label: string) => page.locator(".stat", { hasText: label }).locator("dd").textContent();
    await expect.poll(() => stat("Devices")).toBe("122");
    await expect.poll(() => stat("Online")).toBe("1");
    expect(await stat("Certificates expiring ≤ 7 days")).toBe("12");
    expect(await page.locator("svg#chart-enrollments path[data-series]").count()).toBe(1);
    expect(await page.locator("svg#chart-messages path[data-series]").count()).toBe(2);
    await expect.poll(() => page.locator(".live").textContent()).toContain("live");
    expect(await page.locator(".whoami").textContent()).toContain("operator:admin");
    await screenshot(page, "overview");
  });

  it("devices: server-side search and cursor pages; each row links to its device", async () => {
    await page.getByRole("link", { name: "Devices" }).click();
    await expect.poll(() => page.locator("tbody tr").count()).toBe(50);
    await page.getByRole("button", { name: "Next page →" }).click();
    await expect.poll(() => page.locator("text=Page 2").count()).toBe(1);
    await page.getByRole("button", { name: "Next page →" }).click();
    await expect.poll(() => page.locator("tbody tr").count()).toBe(22);
    expect(await page.getByRole("button", { name: "Next page →" }).isDisabled()).toBe(true);
    await page.getByLabel("Certificate expiring").selectOption("7d");
    await page.getByRole("button", { name: "Search" }).click();
    await expect.poll(() => page.locator("tbody tr").count()).toBe(12);
    await screenshot(page, "devices-expiring");
    await page.getByLabel("Certificate expiring").selectOption("");
    await page.getByLabel("Device id or prefix").fill("dev-");
    await page.getByRole("button", { name: "Search" }).click();
    await expect.poll(() => page.locator("tbody tr").count()).toBe(2);
    expect(await page.locator('tr[data-device="dev-2"] .badge-online').count()).toBe(1);
    await screenshot(page, "devices");
  });

  it("revoking a connected device closes its MQTT connection; the page shows it revoked and offline, no reload", async () => {
    const client = await connectDevice(fg, dev1);
    clients.push(client);
    const dropped = closed(client);
    // A second tab keeps the device list open: it must update too, from the event stream alone.
    const list = await browser.context.newPage();
    await list.goto(console("#/devices?prefix=dev-"));
    await expect.poll(() => list.locator('tr[data-device="dev-1"] .badge-online').count()).toBe(1);
    await markPage(list);

    await page.getByRole("link", { name: "dev-1", exact: true }).click();
    await expect.poll(() => page.getByTestId("device-online").textContent()).toBe("online");
    await markPage(page);
    await screenshot(page, "device-online");
    await page.getByRole("button", { name: "Revoke…" }).click();
    const dialog = page.getByRole("dialog", { name: "Revoke dev-1?" });
    await expect.poll(() => dialog.isVisible()).toBe(true);
    await dialog.getByLabel("Reason (RFC 5280)").selectOption("keyCompromise");
    await screenshot(page, "device-revoke-dialog", false);
    await dialog.getByRole("button", { name: "Revoke device" }).click();

    await dropped; // the broker closed the device's live MQTT connection
    await expect.poll(() => page.getByTestId("device-status").textContent()).toContain("revoked");
    await expect.poll(() => page.getByTestId("device-online").textContent()).toBe("offline");
    expect(await page.locator(".notice").textContent()).toContain("1 live session(s) closed");
    await expectSamePage(page);
    await expect.poll(() => list.locator('tr[data-device="dev-1"] .badge-revoked').count()).toBe(1);
    await expect.poll(() => list.locator('tr[data-device="dev-1"] .badge-offline').count()).toBe(1);
    await expectSamePage(list);
    await list.close();
    const audit = page.locator("table", { hasText: "device.revoked" });
    await expect.poll(() => audit.textContent()).toContain("operator:admin");
    await screenshot(page, "device-revoked");
  });

  it("the revoke dialog works from the keyboard and Escape cancels it", async () => {
    await page.goto(console("#/devices/dev-2"));
    await expect.poll(() => page.getByTestId("device-status").textContent()).toContain("active");
    await page.getByRole("button", { name: "Revoke…" }).focus();
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "Revoke dev-2?" });
    await expect.poll(() => dialog.isVisible()).toBe(true);
    // showModal() moved focus into the dialog.
    expect(await page.evaluate(() => document.activeElement?.closest("dialog") !== null)).toBe(true);
    await page.keyboard.press("Escape");
    await expect.poll(() => dialog.isVisible()).toBe(false);
    expect((await fg.running.registry.getDevice("dev-2"))?.status).toBe("active");
  });

  it("a token created in the console enrolls a real device; the secret is shown once", async () => {
    await page.getByRole("link", { name: "Tokens" }).click();
    await page.getByLabel("Device id").fill("dev-new");
    await page.getByLabel("Valid for").fill("2h");
    await page.getByRole("button", { name: "Create token" }).click();
    const secret = page.getByLabel("Token secret");
    await expect.poll(() => secret.inputValue()).toMatch(/^fgt_/);
    const token = await secret.inputValue();
    await screenshot(page, "token-created");
    const { csrPem } = opensslCsr("/CN=dev-new");
    const enrolled = await postJson(fg.enrollUrl, "/v1/enroll", { token, csr: csrPem }, fg.rootCaPem);
    expect(enrolled.status, enrolled.body).toBe(201);
    await page.getByRole("button", { name: "Done" }).click();
    expect(await page.locator("body").textContent()).not.toContain(token);
    await page.reload();
    await expect.poll(() => page.locator("tr", { hasText: "dev-new" }).textContent()).toContain("used");
    expect(await page.content()).not.toContain(token);
    await screenshot(page, "tokens");
  });

  it("audit: the log pages and verifies intact", async () => {
    await page.getByRole("link", { name: "Audit" }).click();
    await page.getByRole("button", { name: "Verify audit log" }).click();
    await expect.poll(() => page.getByTestId("verify-result").textContent()).toMatch(/^Audit log intact: \d+ entries/);
    await screenshot(page, "audit");
    await page.getByLabel("Subject (device, operator, token)").fill("dev-1");
    await page.getByRole("button", { name: "Filter" }).click();
    await expect.poll(() => page.locator("table").textContent()).toContain("device.revoked");
    const actions = await page.locator("tbody tr td:nth-child(4)").allTextContents();
    expect(actions).toEqual(["device.enrolled", "device.revoked"]);
  });

  it("ACL explain answers with the deciding rule", async () => {
    await page.getByRole("link", { name: "ACL explain" }).click();
    await page.getByLabel("Device id").fill("dev-2");
    await page.getByLabel("Topic or filter").fill("devices/dev-2/telemetry");
    await page.getByRole("button", { name: "Explain" }).click();
    await expect.poll(() => page.getByTestId("acl-result").textContent()).toMatch(/^ALLOW publish/);
    await screenshot(page, "acl");
  });

  it("works on a narrow screen", async () => {
    const narrow = await browser.context.newPage();
    await narrow.setViewportSize({ width: 390, height: 844 });
    await narrow.goto(console("#/devices?prefix=fleet-00"));
    await expect.poll(() => narrow.locator("tbody tr").count()).toBe(50);
    // The table scrolls inside its own box: the page itself never scrolls sideways.
    expect(await narrow.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(narrow, "devices-narrow", false);
    await narrow.goto(console());
    await expect.poll(() => narrow.locator("svg#chart-messages").count()).toBe(1);
    expect(await narrow.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(narrow, "overview-narrow");
    await narrow.close();
  });

  it("nothing on these pages broke the Content-Security-Policy or threw", () => {
    expect(errors).toEqual([]);
  });
});
