import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/*
 * Layering rules, checked over the source text (a regex over import/export/require, not the compiler):
 *  - src/domain/** is pure: nothing that does I/O, nothing from src/adapters or src/app;
 *  - src/app/** (the use cases) reaches the world only through src/ports.ts: a runtime import may
 *    name only src/domain, src/ports.ts or src/app itself; anything else must be `import type`;
 *  - no source file in src/ or provisioning/ is longer than 400 lines.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const MAX_LINES = 400;

/** Modules that do I/O (or pull in a framework that does); bare names also match `name/sub`. */
const IO_MODULES = [
  "node:fs",
  "node:fs/promises",
  "node:net",
  "node:tls",
  "node:http",
  "node:https",
  "node:http2",
  "node:dgram",
  "node:child_process",
  "node:worker_threads",
  "better-sqlite3",
  "aedes",
  "fastify",
  "pino",
  "mqtt",
  "pg",
];

export interface ImportRef {
  readonly specifier: string;
  readonly typeOnly: boolean;
  readonly line: number;
}

const STATIC_IMPORT = /^[ \t]*(import|export)\s+(type\s+)?([^;'"]*?)\s*from\s*["']([^"']+)["']/gm;
const BARE_IMPORT = /^[ \t]*import\s*["']([^"']+)["']/gm;
const DYNAMIC_IMPORT = /\b(?:import|require)\s*\(\s*["']([^"']+)["']\s*\)/g;

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split("\n").length;
}

/** `{ type A, type B }` is type-only too; a default or namespace binding never is. */
function allSpecifiersTypeOnly(clause: string): boolean {
  const braces = /^\{([\s\S]*)\}$/.exec(clause.trim());
  if (!braces) return false;
  const names = braces[1]!
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return names.length > 0 && names.every((name) => name.startsWith("type "));
}

export function parseImports(text: string): ImportRef[] {
  const refs: ImportRef[] = [];
  for (const m of text.matchAll(STATIC_IMPORT)) {
    const typeOnly = m[2] !== undefined || allSpecifiersTypeOnly(m[3]!);
    refs.push({ specifier: m[4]!, typeOnly, line: lineOf(text, m.index) });
  }
  for (const m of text.matchAll(BARE_IMPORT))
    refs.push({ specifier: m[1]!, typeOnly: false, line: lineOf(text, m.index) });
  for (const m of text.matchAll(DYNAMIC_IMPORT))
    refs.push({ specifier: m[1]!, typeOnly: false, line: lineOf(text, m.index) });
  return refs.sort((a, b) => a.line - b.line);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|mts|cts|js|mjs)$/.test(entry.name))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)).split(sep).join("/"))
    .sort();
}

/** Resolves a relative specifier to a repo-relative path (".js" stays: only the folder matters). */
function target(file: string, specifier: string): string | null {
  if (!specifier.startsWith(".")) return null;
  return relative(ROOT, resolve(ROOT, dirname(file), specifier))
    .split(sep)
    .join("/");
}

/** `fs` and `node:fs` are the same module; `pino/file` is pino. */
function isIoModule(specifier: string): boolean {
  const candidates = [specifier, `node:${specifier}`];
  return IO_MODULES.some((io) => candidates.some((name) => name === io || name.startsWith(`${io}/`)));
}

export function domainViolations(file: string, text: string): string[] {
  return parseImports(text).flatMap(({ specifier, line }) => {
    const to = target(file, specifier);
    if (to === null) return isIoModule(specifier) ? [`${file}:${line} imports I/O module ${specifier}`] : [];
    if (to.startsWith("src/adapters/") || to.startsWith("src/app/"))
      return [`${file}:${line} imports ${to} (domain must not depend on adapters or use cases)`];
    if (!to.startsWith("src/domain/")) return [`${file}:${line} imports ${to} (outside src/domain)`];
    return [];
  });
}

const APP_ALLOWED = (to: string): boolean =>
  to.startsWith("src/domain/") || to.startsWith("src/app/") || to === "src/ports.js" || to === "src/ports.ts";

export function appViolations(file: string, text: string): string[] {
  return parseImports(text).flatMap(({ specifier, typeOnly, line }) => {
    const to = target(file, specifier);
    if (to !== null && to.startsWith("src/adapters/"))
      return [`${file}:${line} imports adapter ${to}${typeOnly ? " (even type-only)" : ""}`];
    if (typeOnly) return [];
    if (to === null) return [`${file}:${line} imports ${specifier} at runtime (use a port, or \`import type\`)`];
    return APP_ALLOWED(to) ? [] : [`${file}:${line} imports ${to} at runtime (only domain, ports and app)`];
  });
}

/** The adapter a repo path belongs to ("sqlite" for src/adapters/sqlite/x.ts), or null. */
function adapterOf(path: string): string | null {
  return /^src\/adapters\/([^/]+)\//.exec(path)?.[1] ?? null;
}

/** The shared kernel every adapter may import; it imports no other adapter itself. */
export const SHARED_KERNEL = "shared";

export function adapterViolations(file: string, text: string): string[] {
  const own = adapterOf(file);
  if (own === null) return [];
  return parseImports(text).flatMap(({ specifier, line }) => {
    const to = target(file, specifier);
    const other = to === null ? null : adapterOf(to);
    if (other === null || other === own || (other === SHARED_KERNEL && own !== SHARED_KERNEL)) return [];
    return [`${file}:${line} imports adapter ${to} (adapters meet only in src/adapters/${SHARED_KERNEL} or main.ts)`];
  });
}

/** Every import edge between source files (type-only ones too: a cycle of types is a cycle of concepts). */
export function importGraph(files: readonly { file: string; text: string }[]): Map<string, string[]> {
  const known = new Set(files.map((f) => f.file.replace(/\.ts$/, "")));
  const graph = new Map<string, string[]>();
  for (const { file, text } of files) {
    const edges = parseImports(text).flatMap(({ specifier }) => {
      const to = target(file, specifier)?.replace(/\.(js|ts)$/, "");
      return to !== undefined && known.has(to) ? [to] : [];
    });
    graph.set(file.replace(/\.ts$/, ""), edges);
  }
  return graph;
}

/** Each import cycle once, as the list of modules along it (Tarjan's strongly connected components). */
export function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) visit(next);
      if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, low.get(next) ?? index.get(next)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    for (let member = stack.pop()!; ; member = stack.pop()!) {
      onStack.delete(member);
      component.push(member);
      if (member === node) break;
    }
    const selfLoop = (graph.get(node) ?? []).includes(node);
    if (component.length > 1 || selfLoop) cycles.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

function check(dir: string, rule: (file: string, text: string) => string[]): string[] {
  return sourceFiles(dir).flatMap((file) => rule(file, readFileSync(join(ROOT, file), "utf8")));
}

describe("architecture", () => {
  it("finds the source files it checks", () => {
    expect(sourceFiles("src/domain").length).toBeGreaterThan(5);
    expect(sourceFiles("src/app").length).toBeGreaterThan(3);
  });

  it("src/domain imports nothing with I/O and nothing from adapters or app", () => {
    expect(check("src/domain", domainViolations)).toEqual([]);
  });

  it("src/app imports no adapter; runtime imports only domain, ports and app", () => {
    expect(check("src/app", appViolations)).toEqual([]);
  });

  it(`adapters import no other adapter, except the shared kernel src/adapters/${SHARED_KERNEL}`, () => {
    expect(check("src/adapters", adapterViolations)).toEqual([]);
  });

  it("there are no import cycles in src/ and provisioning/", () => {
    const files = [...sourceFiles("src"), ...sourceFiles("provisioning")]
      .filter((file) => !file.endsWith(".d.ts"))
      .map((file) => ({ file, text: readFileSync(join(ROOT, file), "utf8") }));
    expect(importCycles(importGraph(files))).toEqual([]);
  });

  it(`no source file in src/ or provisioning/ is over ${MAX_LINES} lines`, () => {
    const tooLong = [...sourceFiles("src"), ...sourceFiles("provisioning")].flatMap((file) => {
      const lines = readFileSync(join(ROOT, file), "utf8").replace(/\n$/, "").split("\n").length;
      return lines > MAX_LINES ? [`${file}: ${lines} lines`] : [];
    });
    expect(tooLong).toEqual([]);
  });
});

describe("architecture rules can fail", () => {
  it("parses static, multi-line, side-effect, re-export and dynamic imports", () => {
    const text = [
      'import { a,\n  b } from "node:fs";',
      'import type { T } from "fastify";',
      'import { type X, type Y } from "pino";',
      'import { type X, z } from "mqtt";',
      'import "aedes";',
      'export { q } from "../adapters/sqlite/db.js";',
      'const m = await import("node:net");',
      'const r = require("better-sqlite3");',
    ].join("\n");
    expect(parseImports(text)).toEqual([
      { specifier: "node:fs", typeOnly: false, line: 1 },
      { specifier: "fastify", typeOnly: true, line: 3 },
      { specifier: "pino", typeOnly: true, line: 4 },
      { specifier: "mqtt", typeOnly: false, line: 5 },
      { specifier: "aedes", typeOnly: false, line: 6 },
      { specifier: "../adapters/sqlite/db.js", typeOnly: false, line: 7 },
      { specifier: "node:net", typeOnly: false, line: 8 },
      { specifier: "better-sqlite3", typeOnly: false, line: 9 },
    ]);
  });

  it("flags I/O, adapter and app imports in domain, and allows pure ones", () => {
    const bad =
      'import { readFileSync } from "node:fs";\nimport { x } from "fs";\nimport type { L } from "pino";\nimport { y } from "../adapters/shared/pem.js";\nimport { z } from "../app/deps.js";\nimport { t } from "../config.js";';
    expect(domainViolations("src/domain/x.ts", bad)).toHaveLength(6);
    const good = 'import { createHash } from "node:crypto";\nimport { a } from "./topic.js";';
    expect(domainViolations("src/domain/x.ts", good)).toEqual([]);
  });

  it("flags an adapter importing another adapter, and allows its own files, the shared kernel and the rest", () => {
    const text =
      'import { a } from "../mqtt/broker.js";\nimport type { T } from "../sqlite/tx.js";\nimport { p } from "../shared/pem.js";\nimport { e } from "./errors.js";\nimport { x } from "../../domain/acl.js";';
    expect(adapterViolations("src/adapters/http/x.ts", text)).toHaveLength(2);
    expect(adapterViolations("src/adapters/shared/y.ts", 'import { e } from "../http/errors.js";')).toHaveLength(1);
    expect(adapterViolations("src/main.ts", text)).toEqual([]);
  });

  it("finds import cycles of any length, and none in a tree", () => {
    const graph = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a", "d"]],
      ["d", []],
      ["e", ["e"]],
    ]);
    expect(importCycles(graph)).toEqual([["a", "b", "c"], ["e"]]);
    expect(
      importCycles(
        new Map([
          ["a", ["b"]],
          ["b", []],
        ]),
      ),
    ).toEqual([]);
    const files = [
      { file: "src/x.ts", text: 'import { y } from "./y.js";' },
      { file: "src/y.ts", text: 'import type { X } from "./x.js";' },
    ];
    expect(importCycles(importGraph(files))).toEqual([["src/x", "src/y"]]);
  });

  it("flags adapter imports and untyped outside imports in app, and allows domain, ports, type-only", () => {
    const bad =
      'import type { S } from "../adapters/sqlite/registry.js";\nimport { randomBytes } from "node:crypto";\nimport { pino } from "pino";\nimport { m } from "../metrics.js";';
    expect(appViolations("src/app/x.ts", bad)).toHaveLength(4);
    const good =
      'import { a } from "../domain/acl.js";\nimport type { Clock } from "../ports.js";\nimport { d } from "./deps.js";\nimport type { Logger } from "pino";';
    expect(appViolations("src/app/x.ts", good)).toEqual([]);
  });
});
