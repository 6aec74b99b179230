import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ERROR_CATALOGUE, ERROR_CODES, type ErrorCode } from "../src/domain/errors.js";

/*
 * The README's error table and the catalogue in src/domain/errors.ts must stay in step: every code
 * the service can answer with is documented with its HTTP status, and no documented HTTP error code
 * is missing from (or disagrees with) the catalogue.
 */
const README = fileURLToPath(new URL("../README.md", import.meta.url));

interface TableRow {
  readonly line: number;
  readonly cells: readonly string[];
}

function tableRows(markdown: string): TableRow[] {
  return markdown.split("\n").flatMap((text, index) => {
    const trimmed = text.trim();
    if (!trimmed.startsWith("|") || /^\|[\s|:-]+\|$/.test(trimmed)) return [];
    const cells = trimmed
      .replace(/^\||\|$/g, "")
      .split("|")
      .map((c) => c.trim());
    return [{ line: index + 1, cells }];
  });
}

describe("README error table", () => {
  it("exists", () => {
    expect(existsSync(README)).toBe(true);
  });

  const rows = existsSync(README) ? tableRows(readFileSync(README, "utf8")) : [];

  it.each(ERROR_CODES.map((code) => [code, ERROR_CATALOGUE[code].status] as const))(
    "documents `%s` with HTTP status %d in a table row",
    (code, status) => {
      const documented = rows.filter(
        (row) => row.cells.some((c) => c.includes(`\`${code}\``)) && row.cells.includes(String(status)),
      );
      expect(documented.length, `no README table row holds \`${code}\` together with ${status}`).toBeGreaterThan(0);
    },
  );

  it("documents no HTTP error code the catalogue does not have, nor with another status", () => {
    const httpRows = rows.filter(
      (row) => /^`[a-z][a-z0-9_]*`$/.test(row.cells[0] ?? "") && row.cells.some((c) => /^[45]\d\d$/.test(c)),
    );
    expect(httpRows.length).toBeGreaterThan(0);
    for (const row of httpRows) {
      const code = row.cells[0]!.slice(1, -1);
      const status = Number(row.cells.find((c) => /^[45]\d\d$/.test(c)));
      expect(
        Object.hasOwn(ERROR_CATALOGUE, code),
        `README line ${row.line}: \`${code}\` is not in ERROR_CATALOGUE`,
      ).toBe(true);
      expect(status, `README line ${row.line}: \`${code}\``).toBe(ERROR_CATALOGUE[code as ErrorCode].status);
    }
  });
});
