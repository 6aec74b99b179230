/* global process, console */
// Builds the operator console (src/console, Preact + TSX) into dist/console: one script, one
// stylesheet, one HTML page, no network at run time. `npm run build` runs it after tsc; the test
// suite runs it once before the browser tests (test/console-build.setup.ts).
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

export async function buildConsole(outDir = join(ROOT, "dist", "console")) {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(ROOT, "src/console/main.tsx")],
    bundle: true,
    format: "esm",
    target: ["chrome120", "firefox120", "safari17"],
    minify: true,
    sourcemap: true,
    jsx: "automatic",
    jsxImportSource: "preact",
    outfile: join(outDir, "console.js"),
    logLevel: "warning",
    legalComments: "linked",
  });
  copyFileSync(join(ROOT, "src/console/index.html"), join(outDir, "index.html"));
  copyFileSync(join(ROOT, "src/console/console.css"), join(outDir, "console.css"));
  return outDir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildConsole(process.argv[2]);
  console.log(`console built into ${out}`);
}
