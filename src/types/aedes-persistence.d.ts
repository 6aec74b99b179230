// aedes-persistence ships its promise-style memory persistence as a deep module without typings at
// that path; src/adapters/shared/aedes-persistence.ts has the interface fleetgate wraps it with.
declare module "aedes-persistence/asyncPersistence.js" {
  const MemoryPersistence: new (options?: Record<string, unknown>) => object;
  export default MemoryPersistence;
}
