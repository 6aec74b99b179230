import cliProgress from "cli-progress";
import type { FleetProgress } from "./types.js";

export interface ProgressView {
  update(progress: FleetProgress): void;
  stop(): void;
}

const QUIET: ProgressView = { update: () => undefined, stop: () => undefined };

/**
 * A progress bar on stderr (devices online out of the fleet) with the live counters; nothing at
 * all when either stream is not a terminal, so logs and pipes stay clean.
 */
export function progressView(enabled: boolean): ProgressView {
  if (!enabled || !process.stdout.isTTY || !process.stderr.isTTY) return QUIET;
  const bar = new cliProgress.SingleBar(
    {
      format:
        " {bar} {value}/{total} online | sent {sent} recv {received} | kicks {kicks} renewals {renewals} gave up {gaveUp} | {seconds}s",
      hideCursor: true,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const payload = {
        sent: p.sent,
        received: p.received,
        kicks: p.kicks,
        renewals: p.renewals,
        gaveUp: p.gaveUp,
        seconds: Math.round(p.elapsedMs / 1000),
      };
      if (!started) bar.start(p.devices, p.online, payload);
      else bar.update(p.online, payload);
      started = true;
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
