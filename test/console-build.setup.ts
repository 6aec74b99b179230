import { execFileSync } from "node:child_process";
import { resolve } from "node:path";

/**
 * vitest globalSetup: the browser tests load the console from dist/console, so it is built once from
 * the current sources before any test runs (the same script `npm run build` runs; about a second).
 */
export default function setup(): void {
  const root = resolve(import.meta.dirname, "..");
  execFileSync(process.execPath, [resolve(root, "scripts/build-console.js")], { cwd: root, stdio: "ignore" });
}
