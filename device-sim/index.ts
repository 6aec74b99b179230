/** The simulator's programmatic API: a demo or a benchmark drives a fleet with runFleet. */
export { runFleet, type FleetOptions } from "./fleet.js";
export { startConsumer, type ConsumerOptions, type TelemetryConsumer } from "./consumer.js";
export { buildReport, type FleetRecording, type FleetReport, type RevokedDeviceReport } from "./report.js";
export type { Expectation } from "./expectations.js";
export type { RevokePlan, RotatePlan } from "./revoker.js";
export { formatSummary } from "./summary.js";
export { resolveEndpoints, type EndpointFlags } from "./endpoints.js";
export { fleetAdmin, fleetAdminFromDataDir, type FleetAdmin } from "./admin.js";
export {
  DEFAULT_RETRY,
  SCENARIOS,
  type EnrollMethod,
  type FleetEndpoints,
  type FleetEvent,
  type FleetProgress,
  type RetryPolicy,
  type Scenario,
  type TokenSource,
} from "./types.js";
