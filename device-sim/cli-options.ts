import { InvalidArgumentError } from "commander";
import { join } from "node:path";
import { parseDuration } from "../src/domain/duration.js";
import { SCENARIOS, type EnrollMethod, type Scenario } from "./types.js";

/** The flags as commander hands them over (after the parsers below). */
export interface SimFlags {
  readonly devices: number;
  readonly rate: number;
  readonly duration: number;
  readonly scenario: Scenario;
  readonly revoke?: number;
  readonly revokeAt?: number;
  readonly rotateAt?: number;
  readonly ramp?: number;
  readonly state?: string;
  readonly data?: string;
  readonly token?: string;
  readonly consumerToken?: string;
  readonly consumerId: string;
  readonly prefix: string;
  readonly enrollMethod: EnrollMethod;
  readonly enrollUrl?: string;
  readonly mqttUrl?: string;
  readonly ca?: string;
  readonly concurrency: number;
  readonly maxRefusals: number;
  readonly json: boolean;
  /** Also write the run as a self-contained HTML page with charts. */
  readonly report?: string;
  readonly events: boolean;
  readonly progress: boolean;
}

export function positiveInt(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError("expected a positive integer");
  return value;
}

export function positiveNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError("expected a positive number");
  return value;
}

export function duration(text: string): number {
  const ms = parseDuration(text);
  if (ms === null) throw new InvalidArgumentError("expected a duration like 500ms, 20s or 5m");
  return ms;
}

export function scenario(text: string): Scenario {
  if (!(SCENARIOS as readonly string[]).includes(text))
    throw new InvalidArgumentError(`expected one of ${SCENARIOS.join(", ")}`);
  return text as Scenario;
}

export function enrollMethod(text: string): EnrollMethod {
  if (text !== "est" && text !== "json") throw new InvalidArgumentError("expected est or json");
  return text;
}

/** Next to a server the state lives in its data dir (already git-ignored and private), else ./sim-state. */
export function stateDirOf(flags: Pick<SimFlags, "state" | "data">): string {
  return flags.state ?? (flags.data ? join(flags.data, "sim") : "sim-state");
}

/** Flag combinations that cannot work, as a message, or null. */
export function flagProblem(flags: SimFlags): string | null {
  if (!flags.data && !flags.token)
    return "give --token (a group token: fleetgate token create --prefix sim- --uses N) or --data DIR of a running server";
  if (flags.scenario === "revoke" && !flags.data)
    return "the revoke scenario revokes through the admin API: give --data DIR (with its operator credential)";
  if (flags.scenario === "rotate" && !flags.data)
    return "the rotate scenario rotates the issuing CA in the data dir: give --data DIR (with the root key)";
  if (flags.rotateAt !== undefined && flags.scenario !== "rotate") return "--rotate-at needs --scenario rotate";
  if (flags.revoke !== undefined && flags.scenario !== "revoke") return "--revoke K needs --scenario revoke";
  if (flags.revoke !== undefined && flags.revoke > flags.devices)
    return `--revoke ${flags.revoke} is more than --devices ${flags.devices}`;
  return null;
}
