import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { connect, createServer, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certificateFacts } from "../../../src/adapters/shared/certificate-facts.js";
import { peerCertificate } from "../../../src/adapters/mqtt/peer-certificate.js";
import { makeTempDir, openssl, type TempDir } from "../../helpers/certs.js";

/**
 * The gateway reads a client's identity from OpenSSL's parse of the verified certificate (cheap)
 * instead of re-parsing the DER in JavaScript: the facts must be exactly those certificateFacts
 * gives, for the subjects fleetgate issues and for the odd ones identity rules must refuse.
 */
describe("peerCertificate", () => {
  let tmp: TempDir;

  beforeAll(() => {
    tmp = makeTempDir();
    openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      tmp.file("ca.key", ""),
      "-out",
      tmp.file("ca.crt", ""),
      "-subj",
      "/CN=test-ca",
      "-days",
      "2",
    ]);
  });
  afterAll(() => tmp.remove());

  function issue(name: string, subject: string, serial: string): { cert: string; key: string } {
    openssl([
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      tmp.file(`${name}.key`, ""),
      "-subj",
      subject,
      "-multivalue-rdn",
      "-out",
      tmp.file(`${name}.csr`, ""),
    ]);
    openssl([
      "x509",
      "-req",
      "-in",
      `${tmp.dir}/${name}.csr`,
      "-CA",
      `${tmp.dir}/ca.crt`,
      "-CAkey",
      `${tmp.dir}/ca.key`,
      "-set_serial",
      serial,
      "-days",
      "1",
      "-out",
      tmp.file(`${name}.crt`, ""),
    ]);
    return { cert: tmp.read(`${name}.crt`), key: tmp.read(`${name}.key`) };
  }

  /** The server side of one mutual-TLS connection made with `client`'s certificate. */
  async function serverSocket(client: { cert: string; key: string }): Promise<TLSSocket> {
    const ca = tmp.read("ca.crt");
    const server = createServer({
      cert: client.cert,
      key: client.key,
      ca,
      requestCert: true,
      rejectUnauthorized: true,
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const accepted = once(server, "secureConnection") as Promise<[TLSSocket]>;
    const socket = connect({
      port: (server.address() as AddressInfo).port,
      host: "127.0.0.1",
      ca,
      cert: client.cert,
      key: client.key,
      checkServerIdentity: () => undefined,
    });
    socket.on("error", () => undefined);
    const [serverSide] = await accepted;
    socket.destroy();
    server.close();
    return serverSide;
  }

  it.each([
    ["a fleetgate subject", "/CN=dev-1/OU=device", "0x7eebe1fcde480bd2bb9a549e21789764", ["dev-1"], ["device"]],
    [
      "a serial with its high bit set (DER adds a 00 byte)",
      "/CN=dev-2/OU=service",
      "0x80eebe1fcde480bd2bb9a549e2178976",
      ["dev-2"],
      ["service"],
    ],
    ["two CNs", "/CN=dev-1/CN=dev-2/OU=device", "0x1234", ["dev-1", "dev-2"], ["device"]],
    ["two OUs in one multi-valued RDN", "/CN=dev-1/OU=device+OU=service", "0x1235", ["dev-1"], ["device", "service"]],
    ["no OU", "/CN=dev-1/O=acme", "0x1236", ["dev-1"], []],
    ["no CN", "/OU=device", "0x1237", [], ["device"]],
  ])("%s: the same facts as certificateFacts", async (_name, subject, serial, commonNames, roles) => {
    const socket = await serverSocket(issue(`c${serial}`, subject, serial));
    const peer = peerCertificate(socket);
    const x509 = socket.getPeerX509Certificate()!;
    expect(peer?.facts).toEqual(certificateFacts(new Uint8Array(x509.raw)));
    expect(peer?.facts).toMatchObject({ serial: serial.slice(2), commonNames, roles });
    expect(peer?.notBefore).toBe(Date.parse(x509.validFrom));
    expect(peer?.notAfter).toBe(Date.parse(x509.validTo));
  });

  it("an unauthorized socket has no peer certificate", () => {
    expect(peerCertificate({ authorized: false } as TLSSocket)).toBeNull();
  });
});
