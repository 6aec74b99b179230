/** The role the CA writes into operator certificates (OU=operator); never a device's role. */
export const OPERATOR_ROLE = "operator";

import { FleetgateError } from "./errors.js";

/**
 * The admin API is the only way in, and `fleetgate init` refuses an initialized data dir: revoking the
 * last active operator would lock every operator out for good, so it is refused. Judged inside the unit
 * of work that revokes, against the locked set of active operators, so two racing revocations cannot
 * both pass.
 */
export function assertNotLastOperator(activeOperatorNames: readonly string[], name: string): void {
  const active = new Set(activeOperatorNames);
  if (active.size === 1 && active.has(name)) {
    throw new FleetgateError(
      "malformed_request",
      `${name} is the last active operator; add another (fleetgate operator add NAME) before revoking it`,
    );
  }
}
