import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { derToPem } from "../../src/adapters/shared/pem.js";
import { subtle, x509 } from "../../src/adapters/shared/x509.js";
import { normalizeSerial } from "../../src/domain/identity.js";
import type { TestFleetgate } from "./fleetgate.js";
import { recordCertificate } from "./registry.js";
import { caFiles } from "../../src/adapters/ca/ca-manifest.js";

/**
 * Client certificates the MQTT gateway must refuse, made with the openssl CLI or with the real
 * issuing CA's signer, written to a temp dir so both MQTT.js (PEM strings) and the mosquitto
 * clients (--cert/--key/--cafile files) can use them.
 */
export interface CertFiles {
  readonly id: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly serial: string;
  readonly files: { readonly cert: string; readonly key: string; readonly ca: string; readonly dir: string };
  cleanup(): void;
}

function run(args: readonly string[]): string {
  return execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] }).toString("utf8");
}

function writeCertFiles(
  fg: TestFleetgate,
  id: string,
  certPem: string,
  keyPem: string,
  dir = mkdtempSync(join(tmpdir(), `fleetgate-${id}-`)),
): CertFiles {
  const files = { cert: join(dir, "client.crt"), key: join(dir, "client.key"), ca: join(dir, "server-ca.pem"), dir };
  writeFileSync(files.cert, certPem);
  writeFileSync(files.key, keyPem, { mode: 0o600 });
  writeFileSync(files.ca, fg.rootCaPem);
  const serial = normalizeSerial(new x509.X509Certificate(certPem).serialNumber);
  return { id, certPem, keyPem, serial, files, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
const LEAF_EXT =
  "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n";

/** A self-signed openssl CA fleetgate never saw, and a leaf from it with the same subject an enrolled device has. */
export function foreignCaCertificate(fg: TestFleetgate, cn: string, role = "device"): CertFiles {
  const dir = mkdtempSync(join(tmpdir(), `fleetgate-foreign-${cn}-`));
  const at = (name: string) => join(dir, name);
  run([
    "req",
    "-x509",
    ...EC,
    "-keyout",
    at("ca.key"),
    "-out",
    at("ca.pem"),
    "-subj",
    "/CN=fleetgate Issuing CA",
    "-days",
    "2",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  run(["req", "-new", ...EC, "-keyout", at("leaf.key"), "-out", at("leaf.csr"), "-subj", `/CN=${cn}/OU=${role}`]);
  writeFileSync(at("leaf.ext"), LEAF_EXT);
  run([
    "x509",
    "-req",
    "-in",
    at("leaf.csr"),
    "-CA",
    at("ca.pem"),
    "-CAkey",
    at("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    at("leaf.ext"),
    "-out",
    at("leaf.pem"),
  ]);
  return writeCertFiles(fg, cn, readFileSync(at("leaf.pem"), "utf8"), readFileSync(at("leaf.key"), "utf8"), dir);
}

/**
 * A certificate signed with fleetgate's real issuing CA key by `openssl ca`, whose validity
 * period is given as YYMMDDHHMMSSZ (openssl 3.0 has no `x509 -not_before`). Not recorded anywhere.
 */
export function opensslIssuedCertificate(
  fg: TestFleetgate,
  cn: string,
  startDate: string,
  endDate: string,
  role = "device",
): CertFiles {
  const dir = mkdtempSync(join(tmpdir(), `fleetgate-ossl-${cn}-`));
  const at = (name: string) => join(dir, name);
  writeFileSync(at("index.txt"), "");
  writeFileSync(at("leaf.ext"), LEAF_EXT);
  writeFileSync(
    at("ca.cnf"),
    [
      "[ca]",
      "default_ca = fg",
      "[fg]",
      `dir = ${dir}`,
      "database = $dir/index.txt",
      "new_certs_dir = $dir",
      `certificate = ${fg.pki.issuingCert}`,
      `private_key = ${caFiles(fg.pki, "ca-1").key}`,
      "rand_serial = yes",
      "default_md = sha256",
      "policy = any",
      "unique_subject = no",
      "copy_extensions = none",
      "[any]",
      "commonName = supplied",
      "organizationalUnitName = optional",
      "",
    ].join("\n"),
  );
  run(["req", "-new", ...EC, "-keyout", at("leaf.key"), "-out", at("leaf.csr"), "-subj", `/CN=${cn}/OU=${role}`]);
  run([
    "ca",
    "-batch",
    "-config",
    at("ca.cnf"),
    "-in",
    at("leaf.csr"),
    "-out",
    at("leaf.pem"),
    "-notext",
    "-preserveDN",
    "-startdate",
    startDate,
    "-enddate",
    endDate,
    "-extfile",
    at("leaf.ext"),
  ]);
  return writeCertFiles(fg, cn, readFileSync(at("leaf.pem"), "utf8"), readFileSync(at("leaf.key"), "utf8"), dir);
}

/** YYMMDDHHMMSSZ for `openssl ca -startdate/-enddate`. */
export function asn1UtcTime(ms: number): string {
  return new Date(ms).toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, "$1$2$3$4$5$6Z");
}

/**
 * A certificate from fleetgate's own signer (same extensions an enrolled device gets) for a key
 * made here, issued as if at `now`; with `record`, it is stored in the registry as an enrollment
 * of `id` would store it (the device row is created if needed).
 */
export async function signerIssuedCertificate(
  fg: TestFleetgate,
  id: string,
  options: { now?: number; lifetimeMs?: number; record?: boolean; role?: string } = {},
): Promise<CertFiles> {
  const algorithm = { name: "ECDSA", namedCurve: "P-256" };
  const keys = await subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const spki = new Uint8Array(await subtle.exportKey("spki", keys.publicKey));
  const keyPem = derToPem(new Uint8Array(await subtle.exportKey("pkcs8", keys.privateKey)), "PRIVATE KEY");
  const role = options.role ?? "device";
  const now = options.now ?? Date.now();
  const signed = await fg.running.deps.signer.sign({
    deviceId: id,
    role,
    lifetimeMs: options.lifetimeMs ?? 86_400_000,
    publicKeySpki: spki,
    now,
  });
  if (options.record) {
    const { serial, pem, notBefore, notAfter } = signed;
    await recordCertificate(fg.running.registry, {
      serial,
      deviceId: id,
      role,
      profile: role,
      pem,
      notBefore,
      notAfter,
    });
  }
  return writeCertFiles(fg, id, signed.pem, keyPem);
}
