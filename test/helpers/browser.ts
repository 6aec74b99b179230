import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

/** Debian's chromium, driven by playwright-core (never a browser downloaded by a tool's own installer). */
export const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
];

/** Where screenshots go (gitignored); a test's PNGs are its artifacts, looked at by a person. */
export const ARTIFACTS = resolve(import.meta.dirname, "..", "..", "test-artifacts", "console");

export type ClientCredential =
  { readonly cert: Buffer; readonly key: Buffer } | { readonly pfx: Buffer; readonly passphrase: string };

export interface OpenBrowser {
  readonly context: BrowserContext;
  readonly page: Page;
  close(): Promise<void>;
}

/**
 * A fresh Chromium with its own user-data dir. With `credential`, it presents that client certificate
 * to `origin` (playwright's clientCertificates: the TLS client certificate a person would import).
 */
export async function openBrowser(
  options: { origin?: string; credential?: ClientCredential; viewport?: { width: number; height: number } } = {},
): Promise<OpenBrowser> {
  const userDataDir = mkdtempSync(join(tmpdir(), "fleetgate-chromium-"));
  const clientCertificates =
    options.credential && options.origin ? [{ origin: options.origin, ...options.credential }] : [];
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    clientCertificates,
    ignoreHTTPSErrors: true,
    acceptDownloads: true,
    viewport: options.viewport ?? { width: 1280, height: 800 },
    locale: "en-GB",
    timezoneId: "UTC",
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}
