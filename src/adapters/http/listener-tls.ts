/** The server key and certificate chain every HTTPS listener serves, and the CAs client certificates chain to. */
export interface ListenerTls {
  readonly key: string;
  readonly cert: string | Buffer;
  readonly ca: string[];
}
