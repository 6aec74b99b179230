import MemoryPersistence from "aedes-persistence/asyncPersistence.js";
import type { AedesPersistence } from "../shared/aedes-persistence.js";

/** The embedded store under the guards: aedes-persistence's promise-style in-memory persistence. */
export function createMemoryPersistence(): AedesPersistence {
  return new MemoryPersistence() as AedesPersistence;
}
