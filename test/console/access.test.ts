import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBrowser, screenshot, type OpenBrowser } from "../helpers/browser.js";
import { enrollDevice, type EnrolledDevice } from "../helpers/devices.js";
import { startTestFleetgate, type TestFleetgate } from "../helpers/fleetgate.js";
import { httpsRequest } from "../helpers/https.js";
import { metricValue } from "../helpers/mqtt-kit.js";
import { allAudit } from "../helpers/registry.js";
import { adminOrigin, operatorPem } from "./console-fixture.js";

const run = promisify(execFile);

/** A page on another local origin that tries, as a malicious site would, to act with the operator's certificate. */
function attackerPage(target: string): string {
  return `<!doctype html><html><body><h1>cat pictures</h1>
<form id="f" method="POST" action="${target}/v1/devices/dev-2/reset" enctype="text/plain">
<input name='{"x":"' value='"}'></form>
<script>
async function attempt(init) {
  try { const r = await fetch("${target}/v1/devices/dev-2/revoke", { credentials: "include", method: "POST", ...init });
        return r.type === "opaque" ? "opaque" : String(r.status); }
  catch (e) { return "blocked: " + e.name; }
}
window.attack = async () => ({
  simple: await attempt({ mode: "no-cors", headers: { "content-type": "text/plain" }, body: '{"reason":"keyCompromise"}' }),
  json: await attempt({ headers: { "content-type": "application/json" }, body: '{"reason":"keyCompromise"}' }),
});
</script></body></html>`;
}

describe("console access: certificates, refusal pages, CSRF", { timeout: 120_000 }, () => {
  let fg: TestFleetgate;
  let dev1: EnrolledDevice;
  let dev2: EnrolledDevice;
  let attacker: Server;
  let attackerUrl: string;
  const browsers: OpenBrowser[] = [];
  const tmp = mkdtempSync(join(tmpdir(), "fleetgate-p12-"));
  const open = async (options: Parameters<typeof openBrowser>[0]) => {
    const browser = await openBrowser(options);
    browsers.push(browser);
    return browser;
  };

  beforeAll(async () => {
    fg = await startTestFleetgate();
    [dev1, dev2] = await Promise.all([enrollDevice(fg, "dev-1"), enrollDevice(fg, "dev-2")]);
    const html = attackerPage(adminOrigin(fg));
    attacker = createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end(html));
    await new Promise<void>((resolve) => attacker.listen(0, "127.0.0.1", resolve));
    attackerUrl = `http://127.0.0.1:${(attacker.address() as { port: number }).port}/`;
  });

  afterAll(async () => {
    for (const browser of browsers) await browser.close();
    await new Promise((resolve) => attacker?.close(resolve));
    await fg?.close();
    dev1?.cleanup();
    dev2?.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("no certificate: a refusal page in the browser, the JSON error for an API client, never data", async () => {
    const { page } = await open({});
    const response = await page.goto(`${adminOrigin(fg)}/console/`);
    expect(response?.status()).toBe(401);
    expect(await page.locator("h1").textContent()).toBe("An operator certificate is required");
    expect(await page.locator("body").textContent()).toContain("fleetgate operator add NAME --p12");
    await screenshot(page, "refused-no-certificate");
    await page.goto(`${adminOrigin(fg)}/v1/devices`);
    expect(await page.content()).not.toContain("dev-1");
    const api = await httpsRequest(`${adminOrigin(fg)}/v1/devices`, { ca: fg.rootCaPem });
    expect(api.status).toBe(401);
    expect(api.json()).toEqual({ code: "operator_certificate_required", message: expect.any(String) });
  });

  it("a device certificate: refused with a page saying so, no data", async () => {
    const { page } = await open({
      origin: adminOrigin(fg),
      credential: { cert: Buffer.from(dev1.certPem), key: Buffer.from(dev1.keyPem) },
    });
    const response = await page.goto(`${adminOrigin(fg)}/console/`);
    expect(response?.status()).toBe(403);
    expect(await page.locator("h1").textContent()).toBe("This certificate is not an active operator certificate");
    await screenshot(page, "refused-device-certificate");
    for (const path of ["/v1/devices", "/v1/devices/dev-2", "/v1/overview", "/console/console.js"]) {
      const answer = await page.goto(`${adminOrigin(fg)}${path}`);
      expect(answer?.status(), path).toBe(403);
      const body = await page.content();
      expect(body).not.toContain("dev-2");
      expect(body).not.toContain("serial");
    }
  });

  it("a page on another origin cannot act with the operator's certificate", async () => {
    const { page } = await open({ origin: adminOrigin(fg), credential: operatorPem(fg) });
    const refusalsBefore = await metricValue(fg, "fleetgate_http_refusals_total", { code: "cross_origin_refused" });
    await page.goto(attackerUrl);
    const results = await page.evaluate(() => (window as unknown as { attack(): Promise<unknown> }).attack());
    // The JSON POST dies at its CORS preflight: the server refuses the OPTIONS itself. The "simple"
    // no-cors POST is sent: refused by its Origin, its answer kept unreadable by the CORP header.
    expect(results).toEqual({ simple: "blocked: TypeError", json: "blocked: TypeError" });
    await expect
      .poll(() => metricValue(fg, "fleetgate_http_refusals_total", { code: "cross_origin_refused" }))
      .toBe(refusalsBefore + 2);
    await Promise.all([
      page.waitForNavigation(),
      page.evaluate(() => (document.getElementById("f") as HTMLFormElement).submit()),
    ]);
    expect(await page.locator("h1").textContent()).toBe("Request from another site refused");
    await screenshot(page, "refused-cross-origin");
    const refusalsAfter = await metricValue(fg, "fleetgate_http_refusals_total", { code: "cross_origin_refused" });
    expect(refusalsAfter - refusalsBefore).toBe(3); // the preflight, the no-cors POST and the form POST
    expect((await fg.running.registry.getDevice("dev-2"))?.status).toBe("active");
    const actions = (await allAudit(fg.running.registry)).map((e) => e.action);
    expect(actions).not.toContain("device.revoked");
    expect(actions).not.toContain("device.reset");
  });

  it("a forged Origin from a non-browser client is refused; the CLI's requests (no Origin) still work", async () => {
    const credential = { cert: operatorPem(fg).cert.toString(), key: operatorPem(fg).key.toString() };
    const post = (headers: Record<string, string>, body = '{"reason":"keyCompromise"}') =>
      httpsRequest(`${adminOrigin(fg)}/v1/devices/dev-2/revoke`, {
        method: "POST",
        headers,
        body,
        ca: fg.rootCaPem,
        ...credential,
      });
    const json = { "content-type": "application/json" };
    for (const forged of [
      { ...json, origin: "https://evil.example" },
      { ...json, origin: `https://localhost:${fg.running.ports.admin + 1}` },
      { ...json, "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors" },
    ]) {
      const refused = await post(forged);
      expect(refused.status, JSON.stringify(forged)).toBe(403);
      expect(refused.json()).toMatchObject({ code: "cross_origin_refused" });
    }
    const plain = await post({ "content-type": "text/plain" });
    expect(plain.status).toBe(415);
    expect(plain.json()).toMatchObject({ code: "unsupported_media_type" });
    expect((await fg.running.registry.getDevice("dev-2"))?.status).toBe("active");
    const sameOrigin = await post({ ...json, origin: adminOrigin(fg) });
    expect(sameOrigin.status, sameOrigin.body).toBe(200);
    expect((await fg.running.registry.getDevice("dev-2"))?.status).toBe("revoked");
  });

  it("operators: add downloads a working .p12; the new operator signs in with it; revoked, they are refused", async () => {
    const admin = await open({ origin: adminOrigin(fg), credential: operatorPem(fg) });
    const page = admin.page;
    await page.goto(`${adminOrigin(fg)}/console/#/operators`);
    await page.getByLabel("Name").fill("alice");
    await page.getByLabel("Password for the .p12").fill("correct horse battery");
    await page.getByLabel("Password again").fill("correct horse battery");
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Add operator and download .p12" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe("alice.p12");
    const p12 = join(tmp, "alice.p12");
    await download.saveAs(p12);
    await expect.poll(() => page.locator("tr", { hasText: "alice" }).textContent()).toContain("active");
    await screenshot(page, "operators");
    // A real PKCS#12, sealed with the password typed: OpenSSL opens it with that password only.
    const pass = join(tmp, "pass");
    writeFileSync(pass, "correct horse battery");
    const info = await run("openssl", ["pkcs12", "-in", p12, "-passin", `file:${pass}`, "-nokeys", "-clcerts"]);
    expect(info.stdout).toMatch(/subject=.*CN ?= ?alice/);
    writeFileSync(pass, "wrong password");
    await expect(run("openssl", ["pkcs12", "-in", p12, "-passin", `file:${pass}`, "-noout"])).rejects.toThrow();

    const alice = await open({
      origin: adminOrigin(fg),
      credential: { pfx: readFileSync(p12), passphrase: "correct horse battery" },
    });
    await alice.page.goto(`${adminOrigin(fg)}/console/`);
    await expect.poll(() => alice.page.locator(".whoami").textContent()).toContain("operator:alice");

    await page.getByRole("button", { name: "Revoke operator alice" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Revoke operator" }).click();
    await expect.poll(() => page.locator(".notice").textContent()).toContain("Operator alice revoked");
    const refused = await alice.page.goto(`${adminOrigin(fg)}/console/`);
    expect(refused?.status()).toBe(403);
    // The last active operator cannot be revoked: the server says why, the dialog shows it.
    await page.getByRole("button", { name: "Revoke operator admin" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Revoke operator" }).click();
    await expect.poll(() => page.getByRole("dialog").getByRole("alert").textContent()).toMatch(/last active operator/);
    await screenshot(page, "operators-last", false);
    const audit = (await allAudit(fg.running.registry))
      .filter((e) => e.subject === "alice")
      .map((e) => [e.action, e.actor]);
    expect(audit).toEqual([
      ["operator.added", "operator:admin"],
      ["operator.revoked", "operator:admin"],
    ]);
  });
});
