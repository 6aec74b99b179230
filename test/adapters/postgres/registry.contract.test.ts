import { afterAll, describe } from "vitest";
import { PostgresRegistry } from "../../../src/adapters/postgres/registry.js";
import { registryContract } from "../../contracts/registry.contract.js";
import { POSTGRES_URL, postgresSuiteName, postgresUnavailable, schemaFamily } from "../../helpers/postgres.js";

const unavailable = await postgresUnavailable();
const schemas = schemaFamily("contract");
afterAll(() => (unavailable === null ? schemas.dropAll() : undefined));

describe.skipIf(unavailable !== null)(postgresSuiteName("PostgreSQL registry", unavailable), () => {
  // Every test gets a schema of its own: an empty registry, migrated as a node would on start.
  registryContract("PostgresRegistry", async () => {
    const schema = schemas.next();
    const registry = await PostgresRegistry.open(POSTGRES_URL, { schema });
    return {
      registry,
      async cleanup() {
        await registry.close();
        await schemas.drop(schema);
      },
    };
  });
});
