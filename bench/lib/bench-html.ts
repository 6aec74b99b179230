import { barChart, type Bar } from "../../src/charts/bar-chart.js";
import { renderSvg } from "../../src/charts/svg.js";
import type { BrokerReport } from "./broker-report.js";
import type { Report as EnrollReport } from "./enroll-report.js";
import { escapeXml, htmlPage } from "../../src/charts/report-page.js";
import type { MachineInfo } from "./machine.js";
import type { StormFigures } from "../storm.js";

/** What `npm run bench -- --json` prints (and `--from FILE` reads back). */
export interface BenchResults {
  readonly machine: MachineInfo;
  readonly enroll: EnrollReport | null;
  readonly broker: BrokerReport | null;
  readonly storm: StormFigures | null;
}

interface Figure {
  readonly title: string;
  readonly unit: string;
  readonly bars: readonly Bar[];
  readonly target?: { readonly value: number; readonly label: string };
  readonly note: string;
}

const FLEETGATE = "#2f6fdf";
const MOSQUITTO = "#8e44ad";
const num = (value: number | null | undefined) =>
  value === null || value === undefined || !Number.isFinite(value) ? null : value;
const fg = (value: number | null | undefined): Bar => ({ label: "fleetgate", value: num(value), color: FLEETGATE });
const mq = (value: number | null | undefined): Bar => ({ label: "Mosquitto", value: num(value), color: MOSQUITTO });
const ratio = (r: { measured: number | null; baseline: number; met: boolean | null } | undefined) =>
  r?.measured == null ? "" : `${r.measured}× Mosquitto (issue's bound ≤ ${r.baseline}×: ${r.met ? "met" : "NOT met"})`;

function enrollFigures(report: EnrollReport | null): Figure[] {
  if (!report) return [];
  const { results, latencyMs, targets } = report;
  return [
    {
      title: "Enrollments per second, fresh TLS per device",
      unit: "/s",
      bars: [fg(results.enrollmentsPerSecond)],
      target: { value: targets.enrollmentsPerSecond.target, label: `target ≥ ${targets.enrollmentsPerSecond.target}` },
      note: targets.enrollmentsPerSecond.met ? "target met" : "target missed",
    },
    {
      title: "Enrollment latency",
      unit: "ms",
      bars: [
        { label: "p50", value: num(latencyMs["all"]?.p50), color: FLEETGATE },
        { label: "p99", value: num(latencyMs["all"]?.p99), color: "#1e9e6a" },
      ],
      target: { value: targets.p99Ms.target, label: `p99 target < ${targets.p99Ms.target} ms` },
      note: targets.p99Ms.met ? "p99 target met" : "p99 target missed",
    },
    { title: "Server CPU per enrollment", unit: "ms", bars: [fg(results.serverCpuMsPerEnrollment)], note: "" },
  ];
}

function brokerFigures(report: BrokerReport | null): Figure[] {
  if (!report) return [];
  const { fleetgate: f, mosquitto: m, ratios, run } = report;
  const figures: Figure[] = [
    {
      title: "Broker CPU per mTLS handshake",
      unit: "µs",
      bars: [fg(f?.handshake.cpuUsPer), mq(m?.handshake.cpuUsPer)],
      note: ratio(ratios.handshakeCpu),
    },
    {
      title: `Broker CPU per QoS 1 message (${run.devices} connected)`,
      unit: "µs",
      bars: [fg(f?.messages.cpuUsPer), mq(m?.messages.cpuUsPer)],
      note: ratio(ratios.messageCpu),
    },
    {
      title: `Broker RSS per idle connection (${run.devices})`,
      unit: "KiB",
      bars: [fg(f?.idle.kibPerConnection), mq(m?.idle.kibPerConnection)],
      note: ratio(ratios.rssPerConnection),
    },
  ];
  if (report.revocation)
    figures.push({
      title: `Revoke → socket closed (${run.revocations} revocations)`,
      unit: "ms",
      bars: [
        { label: "p50", value: num(report.revocation.p50), color: FLEETGATE },
        { label: "p99", value: num(report.revocation.p99), color: "#1e9e6a" },
      ],
      target: { value: 100, label: "p99 target < 100 ms" },
      note: "Mosquitto cannot revoke a live session",
    });
  return figures;
}

function stormFigures(storm: StormFigures | null): Figure[] {
  if (!storm) return [];
  return [
    {
      title: `Storm: ${storm.devices} devices, first boot → first telemetry, whole fleet`,
      unit: "s",
      bars: [fg(storm.fleetFirstDeliverySeconds)],
      note: storm.allDelivered && storm.lost === 0 ? "every device delivered, 0 lost" : "NOT every device delivered",
    },
  ];
}

/** The benchmark table as a page of bar charts: one chart per figure, fleetgate next to Mosquitto where both ran. */
export function benchHtml(results: BenchResults): string {
  const figures = [...enrollFigures(results.enroll), ...brokerFigures(results.broker), ...stormFigures(results.storm)];
  const m = results.machine;
  const cards = figures.map((figure, i) => {
    const chart = barChart({
      id: `figure-${i}`,
      title: figure.title,
      bars: figure.bars,
      unit: figure.unit,
      ...(figure.target ? { target: figure.target } : {}),
    });
    return `<section class="card"><h2>${escapeXml(figure.title)}</h2>${renderSvg(chart)}<p class="meta">${escapeXml(figure.note)}</p></section>`;
  });
  const failed = [results.enroll, results.broker, results.storm].filter((r) => r === null).length;
  const body = `<h1>fleetgate benchmarks</h1>
<p class="meta">${escapeXml(`${m.cores} cores (${m.model}), ${m.memoryGiB} GiB, ${m.os}, node ${m.node}`)}${failed ? ` · <span class="fail">${failed} benchmark(s) failed</span>` : ""}</p>
<div class="grid">${cards.join("\n")}</div>`;
  return htmlPage("fleetgate benchmarks", body);
}
