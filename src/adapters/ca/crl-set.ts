import type { CaRing } from "./ca-ring.js";
import { CrlPublisher, type CrlPublisherOptions, type CrlRegistry } from "./crl.js";

/**
 * One CRL per trusted issuing CA (RFC 5280 §5: a CRL has exactly one issuer, and each CA lists only what
 * it issued), kept in step with the CA ring: a CA that joins gets its publisher and first CRL, one that
 * is retired stops being re-signed. A revocation re-signs all of them, as the revoked certificates may
 * come from any.
 */
export class CrlSet {
  private readonly publishers = new Map<string, { readonly fingerprint: string; readonly publisher: CrlPublisher }>();

  constructor(
    private readonly registry: CrlRegistry,
    private readonly options: Omit<CrlPublisherOptions, "issuerId"> = {},
  ) {}

  /** Starts (and signs the first CRL of) every CA new in `ring`; stops those that left it. */
  async sync(ring: CaRing): Promise<void> {
    const wanted = new Set(ring.trusted.map((ca) => ca.id));
    for (const [id, { publisher }] of this.publishers)
      if (!wanted.has(id)) {
        publisher.stop();
        this.publishers.delete(id);
      }
    for (const loaded of ring.trusted) {
      if (this.publishers.get(loaded.id)?.fingerprint === loaded.fingerprint) continue;
      this.publishers.get(loaded.id)?.publisher.stop();
      const publisher = new CrlPublisher(this.registry, loaded.ca, { ...this.options, issuerId: loaded.id });
      await publisher.refresh("startup");
      publisher.start();
      this.publishers.set(loaded.id, { fingerprint: loaded.fingerprint, publisher });
    }
  }

  /** The current CRL of a trusted CA, DER; undefined for any other id. */
  der(id: string): Uint8Array<ArrayBuffer> | undefined {
    return this.publishers.get(id)?.publisher.der;
  }

  publisher(id: string): CrlPublisher | undefined {
    return this.publishers.get(id)?.publisher;
  }

  async refresh(reason: string): Promise<void> {
    await Promise.all([...this.publishers.values()].map(({ publisher }) => publisher.refresh(reason)));
  }

  /** Serves, per CA, the CRL another node signed if it is newer (cluster mode); see CrlPublisher.adopt. */
  async adopt(): Promise<void> {
    await Promise.all([...this.publishers.values()].map(({ publisher }) => publisher.adopt()));
  }

  refreshSoon(reason: string): void {
    for (const { publisher } of this.publishers.values()) publisher.refreshSoon(reason);
  }

  stop(): void {
    for (const { publisher } of this.publishers.values()) publisher.stop();
  }
}
