import type { RefusalStage } from "./types.js";

/**
 * What one device did during a run, written by the device as it happens and read by the report.
 * Plain data: the report is computed from records, never from live objects.
 */
export interface DeviceRecord {
  readonly id: string;
  bootAt: number | null;
  /** Enrolled during this run (first boot); false when stored credentials were reused. */
  firstBoot: boolean;
  enrolledAt: number | null;
  /** The enrollment request that succeeded: CSR made, sent, certificate back (ms; queueing excluded). */
  enrollMs: number | null;
  firstConnectAttemptAt: number | null;
  firstConnectedAt: number | null;
  connects: number;
  /** Of those, connects whose TLS session was resumed from the previous connection's ticket. */
  resumedConnects: number;
  renewals: number;
  /** When each renewal succeeded. */
  renewedAt: number[];
  /** The issuing CA of the certificate the device holds now (node:crypto's subject format). */
  issuer: string | null;
  /** Times the server closed an established session (a kick, from the device's point of view). */
  kicks: number[];
  refusals: { at: number; stage: RefusalStage; reason: string }[];
  gaveUp: { at: number; reason: string } | null;
  /** Highest sequence number taken; every number up to it was sampled. */
  lastSeq: number;
  /** Sequence numbers never acknowledged by the broker when the run ended. */
  unacked: number[];
  /** Readings not taken because the outbox was full (no sequence number was used). */
  skippedSamples: number;
}

export function newDeviceRecord(id: string): DeviceRecord {
  return {
    id,
    bootAt: null,
    firstBoot: false,
    enrolledAt: null,
    resumedConnects: 0,
    enrollMs: null,
    firstConnectAttemptAt: null,
    firstConnectedAt: null,
    connects: 0,
    renewals: 0,
    renewedAt: [],
    issuer: null,
    kicks: [],
    refusals: [],
    gaveUp: null,
    lastSeq: 0,
    unacked: [],
    skippedSamples: 0,
  };
}

/** An operator revocation the fleet asked for, with when it was requested and answered. */
export interface RevocationRecord {
  readonly deviceId: string;
  readonly requestedAt: number;
  readonly doneAt: number;
  readonly error: string | null;
}

/** An operator rollover of the issuing CA the fleet asked for (the rotate scenario). */
export interface RotationRecord {
  readonly requestedAt: number;
  readonly doneAt: number;
  /** The new active CA's id and subject (node:crypto's format, as devices see their certificate's issuer). */
  readonly caId: string | null;
  readonly subject: string | null;
  readonly error: string | null;
}
