/**
 * Where the cluster's extra CPU goes: self time by area (npm package, project file, V8) of the single
 * node's profile next to the cluster nodes' profiles summed. Both profiles cover a whole process life
 * (start-up, the connect storm, the QoS 1 phase), so areas that only the QoS 1 path touches in cluster
 * mode (mqemitter-redis, ioredis, aedes-persistence-redis) stand out in the difference.
 */
import { summarizeProfile } from "./cpuprofile.js";
import { round } from "./stats.js";
import { section } from "./table.js";

export interface ProfileDiff {
  readonly singleFiles: readonly string[];
  readonly clusterFiles: readonly string[];
  readonly rows: readonly { area: string; singleMs: number; clusterMs: number; deltaUsPerMessage: number }[];
}

function byArea(files: readonly string[], key: "byArea" | "topFunctions"): Map<string, number> {
  const totals = new Map<string, number>();
  for (const file of files)
    for (const t of summarizeProfile(file, 100_000)[key]) totals.set(t.name, (totals.get(t.name) ?? 0) + t.ms);
  return totals;
}

export function profileDiff(
  singleFiles: readonly string[],
  clusterFiles: readonly string[],
  messages: number,
  key: "byArea" | "topFunctions" = "byArea",
  top = 20,
): ProfileDiff {
  const single = byArea(singleFiles, key);
  const cluster = byArea(clusterFiles, key);
  const names = new Set([...single.keys(), ...cluster.keys()]);
  const rows = [...names]
    .map((area) => {
      const singleMs = single.get(area) ?? 0;
      const clusterMs = cluster.get(area) ?? 0;
      return { area, singleMs, clusterMs, deltaUsPerMessage: ((clusterMs - singleMs) * 1000) / messages };
    })
    .sort((a, b) => Math.abs(b.clusterMs - b.singleMs) - Math.abs(a.clusterMs - a.singleMs))
    .slice(0, top);
  return { singleFiles, clusterFiles, rows };
}

export function profileDiffText(title: string, diff: ProfileDiff): string {
  return section(
    title,
    diff.rows.map((r) => [r.area, round(r.singleMs, 0), round(r.clusterMs, 0), round(r.deltaUsPerMessage, 1)]),
    ["area (self time)", "single ms", "cluster ms (3 nodes)", "Δ µs per message"],
  );
}
