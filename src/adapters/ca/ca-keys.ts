import type { IssuerKey } from "../../ports.js";
import { pkiFile, type CaKeyLocation } from "./ca-manifest.js";
import { FileIssuerKey } from "./file-issuer-key.js";
import { readPkcs11Pin, type Pkcs11Config } from "./pkcs11/config.js";
import { Pkcs11KeyError } from "./pkcs11/errors.js";
import { Pkcs11IssuerKey } from "./pkcs11/issuer-key.js";
import { generatePkcs11Key } from "./pkcs11/key-generation.js";
import { Pkcs11Token } from "./pkcs11/token.js";

export type CaCurve = "P-256" | "P-384";

/** A CA key just made: in the token already, or in memory with the PEM still to be written 0600. */
export interface NewCaKey {
  readonly key: IssuerKey;
  readonly location: CaKeyLocation;
  /** For a file key: the PKCS#8 PEM for `location.path` (written by the caller, with O_EXCL). */
  readonly pem?: string;
}

/**
 * Where CA keys are opened and made: 0600 files in pki/, or objects of the one PKCS#11 token of the
 * `pkcs11` configuration. The token is logged in on first use (PIN from FLEETGATE_PKCS11_PIN or
 * pkcs11.pinFile) and stays open until close(): signing needs it for as long as the CA is used.
 */
export class CaKeys {
  private token: Promise<Pkcs11Token> | null = null;

  constructor(
    private readonly pki: { readonly dir: string },
    private readonly pkcs11: Pkcs11Config | undefined,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** The key at `location`; `what` names it in errors ("the issuing CA ca-2"). */
  async open(location: CaKeyLocation, what: string): Promise<IssuerKey> {
    if (location.type === "file") return FileIssuerKey.load(pkiFile(this.pki, location.path));
    return Pkcs11IssuerKey.find(await this.openToken(what), location.label);
  }

  /** A new key pair at `location`: a file key (in memory, for the caller to write) or a token key. */
  async generate(location: CaKeyLocation, curve: CaCurve, what: string): Promise<NewCaKey> {
    if (location.type === "file") {
      const { key, pem } = FileIssuerKey.generate(curve);
      return { key, pem, location };
    }
    return { key: await generatePkcs11Key(await this.openToken(what), { label: location.label, curve }), location };
  }

  /** Where a new key of `type` goes: `path` in pki/ for a file, labelFor(`labelSuffix`) in the token. */
  placeFor(type: "file" | "pkcs11", path: string, labelSuffix: string | null): CaKeyLocation {
    return type === "file" ? { type, path } : { type, label: this.labelFor(labelSuffix) };
  }

  /** The label a new token key gets: `<pkcs11.keyLabel>-<suffix>` (or the label itself, for ca-1). */
  labelFor(suffix: string | null): string {
    const base = this.requireConfig("a new CA key").keyLabel;
    return suffix === null ? base : `${base}-${suffix}`;
  }

  /** Logs out of the token and unloads the module, if this opened one. */
  async close(): Promise<void> {
    const token = this.token;
    this.token = null;
    if (token !== null) await (await token.catch(() => null))?.close();
  }

  private openToken(what: string): Promise<Pkcs11Token> {
    const config = this.requireConfig(what);
    this.token ??= Pkcs11Token.open({
      module: config.module,
      token: config.token,
      pin: readPkcs11Pin(config, this.env),
      sessions: config.sessions,
    });
    // A failed open is not kept: the next call reports the problem again (or succeeds once it is fixed).
    this.token.catch(() => (this.token = null));
    return this.token;
  }

  private requireConfig(what: string): Pkcs11Config {
    if (this.pkcs11 !== undefined) return this.pkcs11;
    throw new Pkcs11KeyError(
      "PKCS11_NOT_CONFIGURED",
      `${what} is in a PKCS#11 token, but there is no pkcs11 configuration: set pkcs11.module, pkcs11.token and ` +
        "pkcs11.keyLabel in fleetgate.json (or FLEETGATE_PKCS11_MODULE, _TOKEN, _KEY_LABEL)",
    );
  }
}
