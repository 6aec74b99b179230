import { cpus, loadavg, platform, release, totalmem } from "node:os";

export interface MachineInfo {
  readonly cores: number;
  readonly model: string;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly loadAverage1m: number;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cores: list.length,
    model: list[0]?.model.trim() || "unknown",
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
  };
}
