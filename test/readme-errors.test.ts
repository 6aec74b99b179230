import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ERROR_CATALOGUE, ERROR_CODES, type ErrorCode } from "../src/domain/errors.js";
import { MQTT_DENIALS, MQTT_REFUSALS } from "../src/domain/mqtt-refusals.js";

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

/** The rows of the table whose header row is exactly `header`, as cells. */
function tableAfter(markdown: string, header: string): string[][] {
  const lines = markdown.split("\n");
  const start = lines.findIndex((line) => line.trim() === header);
  if (start < 0) return [];
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.trim().startsWith("|")) break;
    rows.push(
      line
        .trim()
        .replace(/^\||\|$/g, "")
        .split("|")
        .map((c) => c.trim()),
    );
  }
  return rows;
}

/*
 * The MQTT tables too: every connection refusal with its CONNACK return code and every packet or
 * connection denial (src/domain/mqtt-refusals.ts), and nothing else.
 */
describe("README MQTT tables", () => {
  const markdown = existsSync(README) ? readFileSync(README, "utf8") : "";
  const code = (cell: string | undefined) => /^`([a-z0-9_]+)`$/.exec(cell ?? "")?.[1];

  it("lists every connection refusal with its CONNACK return code", () => {
    const rows = tableAfter(markdown, "| reason | CONNACK | meaning |");
    const documented = Object.fromEntries(rows.map((row) => [code(row[0]), Number(row[1])]));
    const expected = Object.fromEntries(Object.entries(MQTT_REFUSALS).map(([reason, r]) => [reason, r.returnCode]));
    expect(documented).toEqual(expected);
  });

  it("lists every denial reason of fleetgate_mqtt_denials_total, and no other", () => {
    const rows = tableAfter(markdown, "| reason | meaning |");
    expect(rows.map((row) => code(row[0])).sort()).toEqual(Object.keys(MQTT_DENIALS).sort());
  });
});
