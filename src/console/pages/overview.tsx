import { useEffect } from "preact/hooks";
import { barChart } from "../../charts/bar-chart.js";
import { lineChart, type LineSeries } from "../../charts/line-chart.js";
import { get, type Overview } from "../api.js";
import { Chart } from "../chart.js";
import { clock } from "../format.js";
import { useFleetEvents } from "../live.js";
import { ErrorBox, useLoad } from "../ui.js";

const REFRESH_MS = 5_000;
const COLORS = ["#2f6fdf", "#1e9e6a", "#d9822b", "#8e44ad", "#c0392b", "#16a2b8"];

function Stat({ label, value, tone }: { label: string; value: number; tone?: string }) {
  return (
    <div class={`stat ${tone ?? ""}`}>
      <dt>{label}</dt>
      <dd>{value.toLocaleString()}</dd>
    </div>
  );
}

function rateChart(
  overview: Overview,
  id: string,
  title: string,
  keys: readonly [string, keyof Overview["activity"]["points"][number]["rates"], string][],
) {
  const end = Date.parse(overview.at);
  const series: LineSeries[] = keys.map(([name, key, color]) => ({
    name,
    color,
    points: overview.activity.points.map((p) => [Date.parse(p.at), p.rates[key]] as const),
  }));
  return lineChart({
    id,
    title,
    series,
    xDomain: [end - overview.activity.windowMs, end],
    xFormat: clock,
    yLabel: "per second",
    height: 200,
  });
}

function Refusals({ title, counts, id }: { title: string; counts: Record<string, number>; id: string }) {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  return (
    <section class="card" aria-labelledby={`${id}-h`}>
      <h3 id={`${id}-h`}>{title}</h3>
      {entries.length === 0 ? (
        <p class="muted">None since the server started.</p>
      ) : (
        <Chart
          node={barChart({
            id,
            title,
            unit: "",
            width: 460,
            bars: entries.slice(0, 8).map(([label, value], i) => ({ label, value, color: COLORS[i % COLORS.length]! })),
          })}
        />
      )}
    </section>
  );
}

export function OverviewPage() {
  const { data, error, reload } = useLoad(async () => (await get<Overview>("/v1/overview")).data, []);
  useEffect(() => {
    const timer = setInterval(reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);
  useFleetEvents(() => reload(), [reload]);
  return (
    <>
      <h1>Overview</h1>
      <ErrorBox error={error} />
      {data === null ? null : (
        <>
          <section aria-labelledby="fleet-h">
            <h2 id="fleet-h">Fleet</h2>
            <dl class="stats">
              <Stat label="Devices" value={data.devices.total} />
              <Stat label="Online" value={data.devices.online} tone="good" />
              <Stat label="Revoked" value={data.devices.revoked} tone="bad" />
              <Stat label="Certificates expiring ≤ 7 days" value={data.certificatesExpiring.within7d} tone="warn" />
              <Stat label="Certificates expiring ≤ 30 days" value={data.certificatesExpiring.within30d} />
            </dl>
          </section>
          <section aria-labelledby="activity-h">
            <h2 id="activity-h">Last 15 minutes</h2>
            <div class="grid-2">
              <div class="card">
                <h3>Enrollments per second</h3>
                <Chart
                  node={rateChart(data, "chart-enrollments", "Enrollments per second, last 15 minutes", [
                    ["enrollments", "enrollments", COLORS[0]!],
                  ])}
                />
              </div>
              <div class="card">
                <h3>Messages per second</h3>
                <Chart
                  node={rateChart(data, "chart-messages", "MQTT messages per second, last 15 minutes", [
                    ["in (from devices)", "messagesIn", COLORS[1]!],
                    ["out (to subscribers)", "messagesOut", COLORS[2]!],
                  ])}
                />
              </div>
            </div>
            {data.activity.points.length < 2 ? (
              <p class="muted">
                The charts fill in as the server runs: one point every {data.activity.stepMs / 1000} s.
              </p>
            ) : null}
          </section>
          <section aria-labelledby="refusals-h">
            <h2 id="refusals-h">Handshake failures and refusals</h2>
            <div class="grid-2">
              <Refusals
                id="chart-handshake"
                title="TLS handshake failures (MQTT)"
                counts={data.refusals.handshakeFailures}
              />
              <Refusals id="chart-mqtt-refusals" title="CONNECT refusals (MQTT)" counts={data.refusals.mqttRefusals} />
              <Refusals
                id="chart-denials"
                title="Denied packets and connections (MQTT)"
                counts={data.refusals.mqttDenials}
              />
              <Refusals id="chart-http" title="HTTP refusals (listener:code)" counts={data.refusals.httpRefusals} />
            </div>
          </section>
        </>
      )}
    </>
  );
}
