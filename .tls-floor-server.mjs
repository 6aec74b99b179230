// A bare Node mTLS server ("bare") or Aedes over it ("aedes") on the same PKI: the floor under fleetgate.
import tls from "node:tls"; import { readFileSync } from "node:fs";
const dir = "/tmp/tls-floor/pki", mode = process.argv[2];
const opts = { key: readFileSync(`${dir}/server.key`), cert: readFileSync(`${dir}/server.crt`), ca: [readFileSync(`${dir}/ca-bundle.crt`)], requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" };
let handle;
if (mode === "aedes") { const { Aedes } = await import("aedes"); const broker = await Aedes.createBroker(); handle = (s) => broker.handle(s); }
else if (mode === "aedes-peer") { const { Aedes } = await import("aedes"); const broker = await Aedes.createBroker({ authenticate: (c, u, p, cb) => { const x = c.conn.getPeerCertificate(false); cb(null, !!x.subject); } }); handle = (s) => broker.handle(s); }
else handle = (s) => { s.once("data", () => s.write(Buffer.from([0x20, 2, 0, 0]))); s.on("error", () => {}); s.on("end", () => s.end()); };
const server = tls.createServer(opts, handle);
server.listen(0, "127.0.0.1", () => console.log(`PORT ${server.address().port}`));
