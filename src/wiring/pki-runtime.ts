import { readFileSync, rmSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type { Config } from "../config.js";
import { FleetgateError } from "../domain/errors.js";
import { findCa, loadCaRing, type CaRing } from "../adapters/ca/ca-ring.js";
import { CaKeys } from "../adapters/ca/ca-keys.js";
import { caEntry, pkiFile, publishCaFiles, readCaManifest, writeCaManifest } from "../adapters/ca/ca-manifest.js";
import type { OcspIssuer } from "../adapters/ca/ocsp.js";
import { ActiveCaSigner, type RevocationUrls } from "../adapters/ca/signer.js";
import type { ListenerTls } from "../adapters/http/listener-tls.js";
import { pkiPaths, readPrivateKeyPem, type PkiPaths } from "../adapters/shared/key-files.js";
import { x509 } from "../adapters/shared/x509.js";
import type {
  CertificateSigner,
  IssuingCaInfo,
  PkiControl,
  PkiReload,
  RootCertificateInfo,
  ServerCertificateInfo,
} from "../ports.js";
import { factsOf } from "../../provisioning/server-certificate.js";

/** The base of the URLs certificates name: each CA's own CRL, and the one OCSP responder. */
export function revocationUrlsFor(config: Pick<Config, "pki">, id: string): RevocationUrls {
  const base = config.pki.publicUrl.replace(/\/+$/, "");
  return { crl: `${base}/crl/${id}.crl`, ocsp: `${base}/ocsp` };
}

/** The server certificate and key as the listeners load them (checked as a pair before they are used). */
interface ServerTls {
  readonly key: string;
  readonly cert: string;
  readonly info: ServerCertificateInfo;
}

function issuerOfServer(chainPem: string, ring: CaRing): string | null {
  const certificate = new x509.X509Certificate(chainPem);
  const aki = certificate.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  const found = ring.trusted.find((ca) => Buffer.from(ca.ca.keyId).toString("hex") === aki);
  return found?.id ?? null;
}

function readServerTls(paths: PkiPaths, ring: CaRing): ServerTls {
  // readPrivateKeyPem refuses a key file others can read.
  const key = readPrivateKeyPem(paths.serverKey);
  const cert = readFileSync(paths.serverCert, "utf8");
  createSecureContext({ key, cert }); // a key that does not match the certificate throws here, not per handshake
  const info = { ...factsOf(new x509.X509Certificate(cert)), issuer: issuerOfServer(cert, ring) };
  return { key, cert, info };
}

/**
 * The PKI a running server holds: the ring of trusted issuing CAs (keys open, in files or a token), the
 * server certificate, and what follows from them — the signer of new certificates, the TLS material of
 * every listener, the CAs OCSP answers for. reload() reads pki/ again (after `fleetgate ca activate`,
 * `server-cert renew`, or a SIGHUP) and, only if everything loads, swaps it in and tells the listeners.
 */
export class PkiRuntime implements PkiControl {
  readonly signer: CertificateSigner;
  private readonly listeners: ((runtime: PkiRuntime) => Promise<void> | void)[] = [];
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly paths: PkiPaths,
    private readonly keys: CaKeys,
    private readonly urlsFor: (id: string) => RevocationUrls,
    private current: { readonly ring: CaRing; readonly server: ServerTls },
  ) {
    this.signer = new ActiveCaSigner(() => ({
      active: this.current.ring.active.signer,
      trustedPems: this.current.ring.trusted.map((ca) => ca.ca.pem),
    }));
  }

  static async open(config: Config, env: NodeJS.ProcessEnv): Promise<PkiRuntime> {
    const paths = pkiPaths(config.dataDir);
    const keys = new CaKeys(paths, config.pkcs11, env);
    const urlsFor = (id: string) => revocationUrlsFor(config, id);
    try {
      const ring = await loadCaRing(readCaManifest(paths), { paths, keys, urlsFor });
      return new PkiRuntime(paths, keys, urlsFor, { ring, server: readServerTls(paths, ring) });
    } catch (error) {
      await keys.close();
      throw error;
    }
  }

  get ring(): CaRing {
    return this.current.ring;
  }

  /** Key, certificate chain and client-certificate CAs (every trusted issuing CA and the root). */
  listenerTls(): ListenerTls {
    const { ring, server } = this.current;
    return { key: server.key, cert: server.cert, ca: [...ring.trusted.map((ca) => ca.ca.pem), ring.rootPem] };
  }

  ocspIssuers(): readonly OcspIssuer[] {
    return this.current.ring.trusted.map(({ id, ca }) => ({ id, ca }));
  }

  /** Called after every successful reload (listeners replace their TLS context, CRLs follow the ring). */
  onReload(listener: (runtime: PkiRuntime) => Promise<void> | void): void {
    this.listeners.push(listener);
  }

  issuingCas(): readonly IssuingCaInfo[] {
    const { manifest } = this.current.ring;
    const order = (state: string) => (state === "active" ? 0 : state === "retiring" ? 1 : 2);
    return [...manifest.cas]
      .sort((a, b) => order(a.state) - order(b.state) || a.id.localeCompare(b.id, "en", { numeric: true }))
      .map((entry) => {
        const certificate = new x509.X509Certificate(readFileSync(pkiFile(this.paths, entry.certificate), "utf8"));
        return {
          id: entry.id,
          state: entry.state,
          subject: certificate.subject,
          serial: certificate.serialNumber.toLowerCase(),
          notBefore: certificate.notBefore.getTime(),
          notAfter: certificate.notAfter.getTime(),
          key: entry.key.type,
        };
      });
  }

  serverCertificate(): ServerCertificateInfo {
    return this.current.server.info;
  }

  rootCertificate(): RootCertificateInfo {
    const root = new x509.X509Certificate(this.current.ring.rootPem);
    const { subject, notBefore, notAfter } = root;
    return {
      subject,
      serial: root.serialNumber.toLowerCase(),
      notBefore: notBefore.getTime(),
      notAfter: notAfter.getTime(),
    };
  }

  reload(): Promise<PkiReload> {
    const next = this.queue.then(() => this.load());
    this.queue = next.catch(() => undefined);
    return next;
  }

  retire(id: string): Promise<PkiReload> {
    const next = this.queue.then(() => this.markRetired(id)).then(() => this.load());
    this.queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.keys.close();
  }

  private async load(): Promise<PkiReload> {
    const before = this.current;
    let loaded: { ring: CaRing; server: ServerTls };
    try {
      const previous = before.ring;
      const ring = await loadCaRing(readCaManifest(this.paths), {
        paths: this.paths,
        keys: this.keys,
        urlsFor: this.urlsFor,
        previous,
      });
      loaded = { ring, server: readServerTls(this.paths, ring) };
    } catch (error) {
      throw new FleetgateError("pki_invalid", (error as Error).message, { cause: error });
    }
    this.current = loaded;
    for (const listener of this.listeners) await listener(this);
    const ids = (ring: CaRing) => ring.trusted.map((ca) => ca.id);
    return {
      activeCa: loaded.ring.active.id,
      trusted: ids(loaded.ring),
      added: ids(loaded.ring).filter((id) => findCa(before.ring, id) === undefined),
      removed: ids(before.ring).filter((id) => findCa(loaded.ring, id) === undefined),
      serverCertificateChanged: loaded.server.cert !== before.server.cert,
      serverCertificate: loaded.server.info,
    };
  }

  /** The manifest says retired (rules were judged by the use case), the key file goes, the CA files follow. */
  private async markRetired(id: string): Promise<void> {
    const manifest = readCaManifest(this.paths);
    const entry = caEntry(manifest, id);
    if (entry === undefined || entry.state !== "retiring")
      throw new FleetgateError("ca_in_use", `${id} is not retiring`);
    const retired = {
      ...manifest,
      cas: manifest.cas.map((ca) =>
        ca.id === id ? { ...ca, state: "retired" as const, retiredAt: new Date().toISOString() } : ca,
      ),
    };
    writeCaManifest(this.paths, retired);
    publishCaFiles(this.paths, retired);
    // A retired CA signs nothing ever again: its key file is only a liability. (A token key stays: the
    // HSM's own tools delete it, with whatever dual control the HSM enforces.)
    if (entry.key.type === "file") rmSync(pkiFile(this.paths, entry.key.path), { force: true });
  }
}
