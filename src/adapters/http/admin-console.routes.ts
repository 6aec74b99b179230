import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyPluginAsync } from "fastify";
import { FleetgateError } from "../../domain/errors.js";
import type { AdminContext } from "./admin-context.js";

/** The package's own root: the nearest folder up from this module with fleetgate's package.json (src or dist). */
function packageRoot(from: string): string {
  for (let dir = dirname(from); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "fleetgate")
      return dir;
  }
  throw new Error(`no fleetgate package.json above ${from}`);
}

/** Where `npm run build` puts the console (scripts/build-console.js): served from the package, no CDN. */
export function consoleAssetsDir(): string {
  return join(packageRoot(fileURLToPath(import.meta.url)), "dist", "console");
}

/**
 * The operator console at /console/: static files (HTML, one script, one stylesheet) built into the
 * package. The same operator authentication as the API runs before them (admin-server.ts); the page
 * itself holds no data, it asks the admin API for everything.
 */
export const consoleRoutes: FastifyPluginAsync<AdminContext> = async (app) => {
  const root = consoleAssetsDir();
  app.get("/console", async (_request, reply) => reply.redirect("/console/", 301));
  if (!existsSync(join(root, "index.html"))) {
    app.get("/console/*", async () => {
      throw new FleetgateError("not_found", `the console is not built (${root}); run \`npm run build\``);
    });
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: "/console/",
    index: ["index.html"],
    wildcard: false,
    // Names are not content-hashed: revalidate every time (an ETag makes that one 304).
    cacheControl: false,
    setHeaders: (reply) => void reply.header("cache-control", "no-cache"),
  });
};
