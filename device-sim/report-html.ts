import { bins, histogram } from "../src/charts/bar-chart.js";
import { lineChart, type ChartMarker } from "../src/charts/line-chart.js";
import { escapeXml, htmlPage, htmlTable } from "../src/charts/report-page.js";
import { renderSvg } from "../src/charts/svg.js";
import type { FleetRecording, FleetReport } from "./report.js";
import { percentile } from "./stats.js";
import { formatSummary } from "./summary.js";

/** At most this many event markers per kind: beyond, the chart would be a solid block (the count is still given). */
const MAX_MARKERS = 300;
/** Latency is summarised in about this many time buckets, whatever the run length. */
const LATENCY_BUCKETS = 120;

const COLORS = { online: "#2f6fdf", sent: "#1e9e6a", received: "#d9822b", p50: "#2f6fdf", p99: "#c0392b" };
const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

function markers(recording: FleetRecording): ChartMarker[] {
  const start = recording.startedAt;
  const kinds: [string, string, { at: number; label: string }[]][] = [
    ["kick", "#c0392b", recording.devices.flatMap((d) => d.kicks.map((at) => ({ at, label: `${d.id} kicked` })))],
    [
      "refusal",
      "#d9822b",
      recording.devices.flatMap((d) =>
        d.refusals.map((r) => ({ at: r.at, label: `${d.id} refused (${r.stage}): ${r.reason}` })),
      ),
    ],
    [
      "revocation",
      "#8e44ad",
      recording.revocations.map((r) => ({ at: r.requestedAt, label: `operator revoked ${r.deviceId}` })),
    ],
  ];
  return kinds.flatMap(([kind, color, events]) =>
    events
      .slice(0, MAX_MARKERS)
      .map((e) => ({ x: e.at - start, label: `${seconds(e.at - start)}: ${e.label}`, color, kind })),
  );
}

/** Per-second rates from the cumulative counters of consecutive samples. */
function rates(recording: FleetRecording, key: "sent" | "received"): [number, number][] {
  const samples = recording.timeline ?? [];
  return samples.slice(1).map((s, i) => {
    const previous = samples[i]!;
    return [s.t, ((s[key] - previous[key]) * 1000) / Math.max(1, s.t - previous.t)];
  });
}

/** p50 and p99 of publish→delivery latency in time buckets by delivery time. */
function latencyOverTime(recording: FleetRecording): { p50: [number, number][]; p99: [number, number][] } {
  const duration = Math.max(1, recording.endedAt - recording.startedAt);
  const width = Math.max(1000, Math.ceil(duration / LATENCY_BUCKETS / 1000) * 1000);
  const buckets = new Map<number, number[]>();
  for (const d of recording.deliveries.values())
    for (let i = 0; i < d.receivedAt.length; i++) {
      const bucket = Math.floor((d.receivedAt[i]! - recording.startedAt) / width);
      let list = buckets.get(bucket);
      if (!list) buckets.set(bucket, (list = []));
      list.push(d.receivedAt[i]! - d.sentAt[i]!);
    }
  const ordered = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const at = (bucket: number) => (bucket + 0.5) * width;
  const sorted = ordered.map(([bucket, values]) => [bucket, Float64Array.from(values).sort()] as const);
  return {
    p50: sorted.map(([bucket, values]) => [at(bucket), percentile(values, 50)]),
    p99: sorted.map(([bucket, values]) => [at(bucket), percentile(values, 99)]),
  };
}

function card(title: string, svg: string, note = ""): string {
  return `<section class="card"><h2>${escapeXml(title)}</h2>${svg}${note ? `<p class="meta">${escapeXml(note)}</p>` : ""}</section>`;
}

function charts(report: FleetReport, recording: FleetRecording): string[] {
  const duration = recording.endedAt - recording.startedAt;
  const xDomain = [0, duration] as const;
  const marks = markers(recording);
  const timeline = recording.timeline ?? [];
  const online = lineChart({
    id: "chart-online",
    title: "Online devices, with kicks, refusals and revocations",
    series: [{ name: "online devices", color: COLORS.online, points: timeline.map((s) => [s.t, s.online]) }],
    markers: marks,
    xDomain,
    xFormat: seconds,
    yLabel: "devices",
  });
  const messages = lineChart({
    id: "chart-messages",
    title: "Telemetry per second: sent (acknowledged by the broker) and delivered (at the consumer)",
    series: [
      { name: "sent", color: COLORS.sent, points: rates(recording, "sent") },
      { name: "delivered", color: COLORS.received, points: rates(recording, "received") },
    ],
    xDomain,
    xFormat: seconds,
    yLabel: "messages per second",
  });
  const latency = latencyOverTime(recording);
  const latencyChart = lineChart({
    id: "chart-latency",
    title: "Publish → delivery latency (ms)",
    series: [
      { name: "p50", color: COLORS.p50, points: latency.p50 },
      { name: "p99", color: COLORS.p99, points: latency.p99 },
    ],
    xDomain,
    xFormat: seconds,
    yLabel: "ms",
  });
  const enrollMs = recording.devices.flatMap((d) => (d.enrollMs === null ? [] : [d.enrollMs]));
  const enrollment = histogram({
    id: "chart-enrollment",
    title: "Enrollment latency (ms): CSR, HTTPS request, certificate",
    bins: bins(enrollMs, 24),
    unit: "ms",
    color: COLORS.online,
  });
  const kinds = (kind: string) => marks.filter((m) => m.kind === kind).length;
  return [
    card(
      "Online devices",
      renderSvg(online),
      `${kinds("kick")} kicks, ${kinds("refusal")} refusals, ${kinds("revocation")} revocations marked (at most ${MAX_MARKERS} of each)`,
    ),
    card("Messages per second", renderSvg(messages)),
    card("Publish → delivery latency", renderSvg(latencyChart), `${report.latencyMs?.count ?? 0} deliveries`),
    card("Enrollment latency", renderSvg(enrollment), `${enrollMs.length} enrollments during this run`),
  ];
}

/** `fleetgate-sim … --report FILE.html`: the run as one self-contained page (inline SVG, no script, no network). */
export function fleetReportHtml(report: FleetReport, recording: FleetRecording): string {
  const started = new Date(recording.startedAt).toISOString();
  const verdict = report.ok ? `<span class="ok">ok</span>` : `<span class="fail">FAILED</span>`;
  const expectations = htmlTable(
    ["", "expectation", "detail"],
    report.expectations.map((e) => [e.ok ? "ok" : "FAIL", e.name, e.detail]),
  );
  const body = `<h1>fleetgate-sim: scenario ${escapeXml(report.scenario)}</h1>
<p class="meta">${report.devices} devices for ${(report.durationMs / 1000).toFixed(1)} s, started ${escapeXml(started)} · result ${verdict}</p>
<div class="grid">${charts(report, recording).join("\n")}</div>
<h2>Expectations</h2>${expectations}
<h2>Summary</h2><pre class="card">${escapeXml(formatSummary(report))}</pre>`;
  return htmlPage(`fleetgate-sim ${report.scenario} report`, body);
}
