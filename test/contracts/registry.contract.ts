import { describe } from "vitest";
import { auditContract } from "./registry/audit.contract.js";
import { copyContract } from "./registry/copy.contract.js";
import { enrollmentContract } from "./registry/enrollment.contract.js";
import type { OpenRegistry } from "./registry/fixtures.js";
import { issuersContract } from "./registry/issuers.contract.js";
import { listingContract } from "./registry/listing.contract.js";
import { racesContract } from "./registry/races.contract.js";
import { recordsContract } from "./registry/records.contract.js";
import { transactContract } from "./registry/transact.contract.js";

export type { OpenRegistry };

/**
 * The Registry port's contract (src/ports.ts), run by every adapter: each test gets a fresh, empty
 * registry from `open` and calls `cleanup` after it. Business rules come from src/domain and src/app
 * exactly as the product runs them, so what is checked is what the adapter promises them: atomic,
 * isolated units of work whose reads lock, and faithful storage and queries of the facts.
 */
export function registryContract(name: string, open: OpenRegistry): void {
  describe(name, () => {
    transactContract(open);
    racesContract(open);
    recordsContract(open);
    listingContract(open);
    auditContract(open);
    enrollmentContract(open);
    issuersContract(open);
    copyContract(open);
  });
}
