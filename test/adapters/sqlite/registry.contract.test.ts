import { join } from "node:path";
import { afterAll } from "vitest";
import { SqliteRegistry } from "../../../src/adapters/sqlite/registry.js";
import { registryContract } from "../../contracts/registry.contract.js";
import { makeTempDir } from "../../helpers/certs.js";

const tmp = makeTempDir("fleetgate-registry-contract-");
afterAll(() => tmp.remove());
let files = 0;

registryContract("SqliteRegistry", async () => {
  const registry = SqliteRegistry.open(join(tmp.dir, `registry-${++files}.db`));
  return { registry, cleanup: () => registry.close() };
});
