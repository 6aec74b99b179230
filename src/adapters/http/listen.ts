import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import type { Logger } from "../../logger.js";

/**
 * Listens and logs the one line that says the service is up and on which port. `exclusive`: in a
 * `serve --workers N` worker, a socket of this worker's own rather than one node:cluster shares among
 * the workers (no effect outside node:cluster).
 */
export async function listen(
  app: FastifyInstance,
  service: string,
  host: string,
  port: number,
  logger: Logger,
  exclusive = false,
): Promise<number> {
  await app.listen({ host, port, exclusive }).catch((error: NodeJS.ErrnoException) => {
    const why = error.code === "EADDRINUSE" ? "the port is in use" : (error.code ?? error.message);
    const settings = `${service}.port in fleetgate.json, FLEETGATE_${service.toUpperCase()}_PORT or --${service}-port`;
    throw new Error(`${service} listener cannot listen on ${host}:${port}: ${why} (set ${settings})`, { cause: error });
  });
  const bound = (app.server.address() as AddressInfo).port;
  logger.info({ service, host, port: bound }, `${service} listening`);
  return bound;
}
