/** How instants and durations read in the console: local time, and "in 3 d" / "5 min ago". */
export function when(iso: string | null): string {
  if (iso === null) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime())
    ? iso
    : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function relative(iso: string | null, now = Date.now()): string {
  if (iso === null) return "—";
  const ms = Date.parse(iso) - now;
  const abs = Math.abs(ms);
  const [value, unit] =
    abs < 60_000
      ? [abs / 1000, "s"]
      : abs < 3_600_000
        ? [abs / 60_000, "min"]
        : abs < 86_400_000
          ? [abs / 3_600_000, "h"]
          : [abs / 86_400_000, "d"];
  const text = `${Math.round(value)} ${unit}`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

export function duration(ms: number): string {
  const days = ms / 86_400_000;
  return days >= 1 ? `${Math.round(days)} d` : `${Math.round(ms / 3_600_000)} h`;
}
