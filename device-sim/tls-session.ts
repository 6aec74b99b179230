import type { DeviceCredential } from "./credential-store.js";

/**
 * The TLS session a device keeps between connections, as firmware with a TLS stack does (a TLS 1.3
 * ticket, the latest the server sent): offered on the next connect so the server can resume instead of
 * doing a full handshake. It belongs to the certificate it was made with: after a renewal the old
 * session would present the superseded certificate (and be refused), so it is never offered then.
 */
export class TlsSessionSlot {
  private session: Buffer | undefined;
  private serial: string | undefined;

  /** The session to offer when connecting with `credential`, if there is one for it. */
  offer(credential: Pick<DeviceCredential, "serial">): Buffer | undefined {
    return this.serial === credential.serial ? this.session : undefined;
  }

  keep(credential: Pick<DeviceCredential, "serial">, session: Buffer): void {
    this.session = session;
    this.serial = credential.serial;
  }
}
