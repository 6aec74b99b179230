import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { derToPem, pemToDer } from "../../src/adapters/shared/pem.js";
import { subtle, x509 } from "../../src/adapters/shared/x509.js";
import { normalizeSerial } from "../../src/domain/identity.js";

/**
 * Certificate and CSR helpers for the integration tests: the openssl CLI (files in a temp dir that
 * the caller removes) and WebCrypto CSRs with arbitrary subjects, which the CLI cannot express.
 */

export interface TempDir {
  readonly dir: string;
  /** Writes `content` to `name` inside the dir and returns the full path. */
  file(name: string, content: string | Uint8Array): string;
  read(name: string): string;
  remove(): void;
}

export function makeTempDir(prefix = "fleetgate-files-"): TempDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    file(name, content) {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    },
    read: (name) => readFileSync(join(dir, name), "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Runs the openssl CLI synchronously. Only for work that does not talk to the in-process server:
 * a synchronous child blocks the event loop the server needs to answer.
 */
export function openssl(args: readonly string[], input?: string | Uint8Array): string {
  return opensslBytes(args, input).toString("utf8");
}

/** Like `openssl`, for binary output (DER). */
export function opensslBytes(args: readonly string[], input?: string | Uint8Array): Buffer {
  return execFileSync("openssl", args, { input, stdio: ["pipe", "pipe", "pipe"] });
}

/** Runs a command without blocking the event loop (for curl against the in-process server). */
export function runAsync(
  command: string,
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { encoding: "utf8" }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export type KeyChoice = { curve: "P-256" | "P-384" | "P-521" } | { rsaBits: number };

export interface WebCryptoCsr {
  readonly csrPem: string;
  readonly csrDer: Uint8Array<ArrayBuffer>;
  readonly keys: CryptoKeyPair;
  /** PKCS#8 PEM of the private key (for mTLS with the issued certificate). */
  readonly keyPem: string;
}

/**
 * A CSR made with WebCrypto through @peculiar/x509. `name` may be any JSON name, so CNs with
 * `#`, `+`, `/`, NUL, spaces, empty or repeated CNs can be requested.
 */
export async function webCryptoCsr(
  name: string | x509.JsonName,
  key: KeyChoice = { curve: "P-256" },
  extensions: x509.Extension[] = [],
): Promise<WebCryptoCsr> {
  const algorithm =
    "curve" in key
      ? { name: "ECDSA", namedCurve: key.curve, hash: key.curve === "P-256" ? "SHA-256" : "SHA-384" }
      : {
          name: "RSASSA-PKCS1-v1_5",
          modulusLength: key.rsaBits,
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: "SHA-256",
        };
  const keys = await subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name,
    keys,
    signingAlgorithm: algorithm,
    extensions,
  });
  const keyPem = derToPem(new Uint8Array(await subtle.exportKey("pkcs8", keys.privateKey)), "PRIVATE KEY");
  return { csrPem: csr.toString("pem"), csrDer: new Uint8Array(csr.rawData), keys, keyPem };
}

export function csrPemToDer(pem: string): Uint8Array<ArrayBuffer> {
  const der = pemToDer(pem, ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]);
  if (der === null) throw new Error("not a PEM CSR");
  return der;
}

/** EST body (RFC 8951): base64 DER, wrapped at 64 columns or all on one line. */
export function estBody(der: Uint8Array, lineBreaks: boolean): string {
  const b64 = Buffer.from(der).toString("base64");
  return lineBreaks ? b64.replace(/(.{64})/g, "$1\n") + "\n" : b64;
}

/**
 * A copy of a signed DER structure with its last byte changed. In a PKCS#10 CSR the last byte is
 * inside the signature BIT STRING, so the structure still decodes but the signature no longer verifies.
 */
export function flipLastByte(der: Uint8Array): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(der);
  copy[copy.length - 1] = copy[copy.length - 1]! ^ 0x01;
  return copy;
}

export interface CertificateTextFacts {
  readonly text: string;
  readonly subject: string;
  readonly serialHex: string;
}

const inspected = new Map<string, CertificateTextFacts>();

/**
 * `openssl x509 -text` plus the one-line subject (RFC 2253) and the serial, for one PEM
 * certificate: one openssl run, remembered per PEM.
 */
export function inspectCertificate(pem: string): CertificateTextFacts {
  const known = inspected.get(pem);
  if (known) return known;
  const output = openssl(["x509", "-noout", "-subject", "-serial", "-nameopt", "RFC2253", "-text"], pem);
  const subject = /^subject=(.*)$/m.exec(output)?.[1] ?? "";
  const serialHex = /^serial=(.*)$/m.exec(output)?.[1] ?? "";
  const text = output.slice(output.indexOf("Certificate:"));
  const facts = { text, subject, serialHex };
  inspected.set(pem, facts);
  return facts;
}

/** The value printed on the line after an extension's heading in `openssl x509 -text`. */
export function extensionValue(text: string, heading: string): string {
  const lines = text.split("\n");
  const index = lines.findIndex((line) => line.trim().startsWith(heading));
  if (index < 0) throw new Error(`no ${heading} in certificate text`);
  return lines[index + 1]!.trim().replace(/^keyid:/, "");
}

/** `openssl verify -CAfile root -untrusted issuing cert`: resolves the exit status and output. */
export function opensslVerify(certPem: string, rootPem: string, issuingPem: string): { ok: boolean; output: string } {
  const tmp = makeTempDir("fleetgate-verify-");
  try {
    const args = [
      "verify",
      "-CAfile",
      tmp.file("root.pem", rootPem),
      "-untrusted",
      tmp.file("issuing.pem", issuingPem),
      tmp.file("cert.pem", certPem),
    ];
    try {
      return { ok: true, output: openssl(args) };
    } catch (error) {
      const failed = error as { stdout?: Buffer; stderr?: Buffer };
      return { ok: false, output: `${failed.stdout?.toString() ?? ""}${failed.stderr?.toString() ?? ""}` };
    }
  } finally {
    tmp.remove();
  }
}

/** Decodes a base64 certs-only PKCS#7 body with `openssl pkcs7 -inform DER -print_certs`; returns the PEM blocks. */
export function pkcs7Certificates(base64Body: string): string[] {
  const der = Buffer.from(base64Body.replace(/\s+/g, ""), "base64");
  const printed = openssl(["pkcs7", "-inform", "DER", "-print_certs"], der);
  return [...printed.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => m[0] + "\n");
}

/** Compares certificates by DER, ignoring PEM line layout. */
export function sameCertificate(a: string, b: string): boolean {
  return new x509.X509Certificate(a).equal(new x509.X509Certificate(b));
}

export function serialOf(pem: string): string {
  return normalizeSerial(new x509.X509Certificate(pem).serialNumber);
}

/**
 * A client certificate with the given CN from a CA fleetgate has never seen: a self-signed
 * openssl CA plus a leaf signed by it. Returns PEMs.
 */
export function foreignClientCertificate(cn: string): { certPem: string; keyPem: string; caPem: string } {
  const tmp = makeTempDir("fleetgate-foreign-");
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    openssl([
      "req",
      "-x509",
      ...ec,
      "-keyout",
      join(tmp.dir, "ca.key"),
      "-out",
      join(tmp.dir, "ca.pem"),
      "-subj",
      "/CN=Foreign CA",
      "-days",
      "2",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign",
    ]);
    openssl([
      "req",
      "-new",
      ...ec,
      "-keyout",
      join(tmp.dir, "leaf.key"),
      "-out",
      join(tmp.dir, "leaf.csr"),
      "-subj",
      `/CN=${cn}/OU=device`,
    ]);
    const ext = tmp.file(
      "leaf.ext",
      "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    );
    openssl([
      "x509",
      "-req",
      "-in",
      join(tmp.dir, "leaf.csr"),
      "-CA",
      join(tmp.dir, "ca.pem"),
      "-CAkey",
      join(tmp.dir, "ca.key"),
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      ext,
      "-out",
      join(tmp.dir, "leaf.pem"),
    ]);
    return { certPem: tmp.read("leaf.pem"), keyPem: tmp.read("leaf.key"), caPem: tmp.read("ca.pem") };
  } finally {
    tmp.remove();
  }
}
