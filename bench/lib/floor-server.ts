/**
 * What Node's TLS and Aedes cost alone, run as its own process by bench:broker --floor, on fleetgate's
 * PKI (the same server key, chain and client CAs, TLS >= 1.2, client certificate required):
 *
 *   node --import tsx bench/lib/floor-server.ts tls|aedes DATA_DIR
 *
 * `tls` answers the first bytes of a connection (the CONNECT) with a CONNACK and nothing else;
 * `aedes` hands every TLS socket to a default Aedes (no hooks). Prints `{"service":"floor","port":N}`.
 */
import { Aedes } from "aedes";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createServer, type TLSSocket } from "node:tls";

const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const [mode, dataDir] = process.argv.slice(2);
if ((mode !== "tls" && mode !== "aedes") || !dataDir) throw new Error("usage: floor-server.ts tls|aedes DATA_DIR");
const pki = join(dataDir, "pki");

function answerOnce(socket: TLSSocket): void {
  socket.on("error", () => undefined);
  socket.once("data", () => socket.write(CONNACK));
  socket.on("end", () => socket.end());
}

const broker = mode === "aedes" ? await Aedes.createBroker() : null;
const server = createServer(
  {
    key: readFileSync(join(pki, "server.key")),
    cert: readFileSync(join(pki, "server.crt")),
    ca: [readFileSync(join(pki, "ca-bundle.crt"))],
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
  },
  (socket) => (broker ? broker.handle(socket) : answerOnce(socket)),
);
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  console.log(JSON.stringify({ service: "floor", port }));
});
process.once("SIGTERM", () => process.exit(0));
