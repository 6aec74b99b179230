/** The connections benchmark's report: per broker figures, fleetgate/Mosquitto ratios, the RSS target. */
import type { FleetFigures, ProbeFigures, RevocationFigures } from "./connection-phases.js";
import type { ConnectionsPlan } from "./connections-plan.js";
import type { HostLimits } from "./host-limits.js";
import { machineInfo, type MachineInfo } from "./machine.js";
import type { HeapFigures } from "./node-report.js";
import { round } from "./stats.js";
import { section, type Cell } from "./table.js";

/** The issue's bound: one fleetgate node holds 100,000 idle sessions in at most 8 GiB RSS. */
export const TARGET = { connections: 100_000, rssGiB: 8 } as const;

export interface BrokerConnections {
  readonly name: string;
  readonly held: FleetFigures;
  readonly probeAtRest: ProbeFigures;
  readonly probeAtLoad: ProbeFigures;
  /** fleetgate's V8 heap before the fleet connected and with it held (null for Mosquitto). */
  readonly heap: { atRest: HeapFigures | null; held: HeapFigures | null };
  readonly revocation: RevocationFigures | null;
  /** Fleet sessions the broker closed while they were held. */
  readonly dropped: number;
}

interface Parts {
  readonly limits: HostLimits;
  readonly plan: ConnectionsPlan;
  readonly enrollSeconds: number;
  readonly uptime: { start: string; end: string };
  readonly wallSeconds: number;
  readonly fleetgate: BrokerConnections | null;
  readonly mosquitto: BrokerConnections | null;
}

export interface ConnectionsReport extends Parts {
  readonly machine: MachineInfo;
  readonly ratios: Record<"rssPerConnection" | "connectSeconds" | "cpuPerConnection", number | null>;
  /** fleetgate's RSS with TARGET.connections held: measured at that size, else a linear projection. */
  readonly rssTarget: { gib: number | null; projected: boolean; met: boolean | null } | null;
  readonly problems: string[];
}

const GiB_IN_KiB = 2 ** 20;

function rssTarget(fg: BrokerConnections | null): ConnectionsReport["rssTarget"] {
  if (!fg) return null;
  const { held } = fg;
  const projected = held.connected < TARGET.connections;
  const kib = projected
    ? held.memoryBefore.rssKiB + held.kibPerConnection * TARGET.connections
    : held.memoryAfter.rssKiB;
  const gib = round(kib / GiB_IN_KiB, 2);
  return { gib, projected, met: gib === null ? null : gib <= TARGET.rssGiB };
}

function ratio(fg: BrokerConnections | null, mq: BrokerConnections | null, f: (h: FleetFigures) => number) {
  if (!fg || !mq) return null;
  const value = f(fg.held) / f(mq.held);
  return Number.isFinite(value) ? round(value, 2) : null;
}

/** Where a held session's RSS goes: the V8 heap's growth, and the rest (anonymous memory outside it). */
export function perSessionSplit(b: BrokerConnections) {
  const { atRest, held } = b.heap;
  if (!atRest || !held) return null;
  const n = Math.max(1, b.held.connected);
  const per = (mib: number) => (mib * 1024) / n;
  const rssKiB = b.held.kibPerConnection;
  const heapCommittedKiB = per(held.committedMiB - atRest.committedMiB);
  return {
    rssKiB,
    heapCommittedKiB,
    heapUsedKiB: per(held.usedMiB - atRest.usedMiB),
    externalKiB: per(held.externalMiB - atRest.externalMiB),
    outsideHeapKiB: rssKiB - heapCommittedKiB,
  };
}

export function problemsOf(parts: Parts): string[] {
  const problems: string[] = [];
  if (parts.plan.limitedBy)
    problems.push(`held ${parts.plan.connections} of ${parts.plan.requested}: ${parts.plan.limitedBy}`);
  for (const b of [parts.fleetgate, parts.mosquitto]) {
    if (!b) continue;
    if (b.held.failed > 0) problems.push(`${b.name}: ${b.held.failed} sessions failed to connect: ${b.held.errors[0]}`);
    if (b.dropped > 0) problems.push(`${b.name}: ${b.dropped} held sessions were closed by the broker`);
    for (const [when, p] of [
      ["at rest", b.probeAtRest],
      ["at load", b.probeAtLoad],
    ] as const)
      if (p.failed > 0) problems.push(`${b.name}: ${p.failed} admission probes failed ${when}: ${p.errors[0]}`);
    if (b.revocation && b.revocation.notClosed + b.revocation.connectFailed > 0)
      problems.push(
        `${b.name}: ${b.revocation.notClosed} revoked devices not kicked, ${b.revocation.connectFailed} did not connect`,
      );
  }
  return problems;
}

export function buildReport(parts: Parts & { problems: string[] }): ConnectionsReport {
  const { fleetgate: fg, mosquitto: mq } = parts;
  return {
    machine: machineInfo(),
    ...parts,
    ratios: {
      rssPerConnection: ratio(fg, mq, (h) => h.kibPerConnection),
      connectSeconds: ratio(fg, mq, (h) => h.connectSeconds),
      cpuPerConnection: ratio(fg, mq, (h) => h.brokerCpuUsPerConnection),
    },
    rssTarget: rssTarget(fg),
  };
}

const num = (value: number | null | undefined, digits = 1): Cell =>
  value === null || value === undefined || !Number.isFinite(value) ? "-" : round(value, digits);
const x = (value: number | null): Cell => (value === null ? "-" : `${value}×`);
const pair = (a: number, b: number, digits = 1) => `${num(a, digits)} / ${num(b, digits)}`;

function mainRows(r: ConnectionsReport): Cell[][] {
  const { fleetgate: fg, mosquitto: mq } = r;
  const both = (f: (b: BrokerConnections) => Cell): Cell[] => [fg ? f(fg) : "-", mq ? f(mq) : "-"];
  const t = r.rssTarget;
  const verdict = t?.met === null || !t ? "-" : `${t.met ? "met" : "NOT met"}${t.projected ? " (projected)" : ""}`;
  return [
    ["idle sessions held", ...both((b) => b.held.connected), "-"],
    ["time to connect them, s", ...both((b) => num(b.held.connectSeconds)), x(r.ratios.connectSeconds)],
    ["connects/s", ...both((b) => num(b.held.connectsPerSecond, 0)), "-"],
    [
      "broker CPU µs per connect",
      ...both((b) => num(b.held.brokerCpuUsPerConnection, 0)),
      x(r.ratios.cpuPerConnection),
    ],
    ["broker RSS KiB per idle session", ...both((b) => num(b.held.kibPerConnection, 1)), x(r.ratios.rssPerConnection)],
    [
      "broker RSS at rest → held, MiB",
      ...both((b) => pair(b.held.memoryBefore.rssKiB / 1024, b.held.memoryAfter.rssKiB / 1024, 0)),
      "-",
    ],
    ["fresh device CONNACK p50 / p99 ms, at rest", ...both((b) => pair(b.probeAtRest.p50, b.probeAtRest.p99)), "-"],
    ["fresh device CONNACK p50 / p99 ms, held", ...both((b) => pair(b.probeAtLoad.p50, b.probeAtLoad.p99)), "-"],
    [
      "revoke → socket closed p50 / p99 ms, held",
      fg?.revocation ? pair(fg.revocation.p50, fg.revocation.p99, 2) : "-",
      mq ? "cannot" : "-",
      "-",
    ],
    [`fleetgate RSS at ${TARGET.connections} sessions, GiB (≤ ${TARGET.rssGiB})`, t?.gib ?? "-", "", verdict],
  ];
}

function detailRows(b: BrokerConnections | null): Cell[][] {
  if (!b) return [];
  const h = b.held;
  const mib = (kib: number) => `${num(kib / 1024, 0)} MiB`;
  const rows: Cell[][] = [
    [
      b.name,
      "storm",
      `${h.connected}/${h.requested} in ${num(h.connectSeconds)} s, connect → CONNACK p50 ${num(h.connectLatency.p50)} / p99 ${num(h.connectLatency.p99)} ms, broker CPU ${num(h.brokerCpuMs / 1000)} s`,
    ],
    [
      "",
      "memory held",
      `RSS ${mib(h.memoryAfter.rssKiB)} = anon ${mib(h.memoryAfter.anonKiB)} + file ${mib(h.memoryAfter.fileKiB)} + shmem ${mib(h.memoryAfter.shmemKiB)} (at rest: anon ${mib(h.memoryBefore.anonKiB)})`,
    ],
    [
      "",
      "load processes",
      `${h.loaders.processes}, CPU ${num(h.loaders.cpuMs / 1000)} s, RSS ${mib(h.loaders.rssKiB)}; other processes kept ${num(h.otherCoresBusy, 2)} cores busy`,
    ],
    ["", "held sessions dropped", b.dropped],
  ];
  const split = b.heap.atRest && b.heap.held ? perSessionSplit(b) : null;
  if (split)
    rows.push([
      "",
      "per held session",
      `RSS ${num(split.rssKiB)} KiB = V8 heap committed ${num(split.heapCommittedKiB)} (used ${num(split.heapUsedKiB)}) ` +
        `+ outside the V8 heap ${num(split.outsideHeapKiB)} (ArrayBuffers/Buffers ${num(split.externalKiB)}; ` +
        `the rest OpenSSL, libuv, malloc) KiB; heap limit ${num(b.heap.held!.limitMiB, 0)} MiB, ${b.heap.held!.libuvHandles} libuv handles`,
    ]);
  if (b.revocation)
    rows.push([
      "",
      "revocations",
      `${b.revocation.count} kicked (max ${num(b.revocation.max, 2)} ms), ${b.revocation.notClosed} not closed`,
    ]);
  return rows;
}

export function humanReport(r: ConnectionsReport): string {
  const m = r.machine;
  const parts = [
    `machine  ${m.cores} cores (${m.model}), ${m.memoryGiB} GiB, ${m.os}, node ${m.node}`,
    `limits   ulimit -n ${r.plan.openFileLimit}${r.plan.raised ? " (raised)" : " (the hard limit)"}; nr_open ${r.limits.nrOpen}, ports ${r.limits.ephemeralPorts?.low}-${r.limits.ephemeralPorts?.high} per source address`,
    `uptime   start: ${r.uptime.start}\n         end:   ${r.uptime.end}`,
    `run      ${r.plan.connections} of ${r.plan.requested} requested sessions, ${r.plan.loaders.count} load processes; enrollment ${num(r.enrollSeconds, 0)} s; ${num(r.wallSeconds, 0)} s in all`,
    section("idle connections", mainRows(r), ["", "fleetgate", "mosquitto", "fleetgate/mosquitto"]),
    section("details", [...detailRows(r.fleetgate), ...detailRows(r.mosquitto)]),
  ];
  if (r.problems.length > 0) parts.push(`PROBLEMS:\n${r.problems.map((p) => `  ${p}`).join("\n")}`);
  return parts.join("\n\n");
}
