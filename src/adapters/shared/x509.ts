// @peculiar/x509 needs reflect-metadata loaded first and a WebCrypto provider; every module that
// uses the library imports it from here so that both are always in place.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
export const subtle = webcrypto.subtle;
