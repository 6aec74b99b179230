/** A small aligned two-or-more-column table for human reports; `null` cells print as "-". */
export type Cell = string | number | boolean | null | undefined;

function text(cell: Cell): string {
  if (cell === null || cell === undefined) return "-";
  if (typeof cell === "boolean") return cell ? "yes" : "no";
  return String(cell);
}

export function formatTable(rows: readonly (readonly Cell[])[], header?: readonly string[]): string {
  const all = (header ? [header, ...rows] : rows).map((row) => row.map(text));
  const columns = Math.max(...all.map((row) => row.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(...all.map((row) => (row[i] ?? "").length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const lines = all.map(line);
  if (header) lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  return lines.join("\n");
}

/** A titled section: "title" then the table indented by two spaces. */
export function section(title: string, rows: readonly (readonly Cell[])[], header?: readonly string[]): string {
  const body = formatTable(rows, header)
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
  return `${title}\n${body}`;
}
