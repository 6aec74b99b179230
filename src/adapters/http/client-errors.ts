import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { ERROR_CATALOGUE, FleetgateError, type ErrorCode } from "../../domain/errors.js";
import { noteRefusal, type ErrorPaths } from "./errors.js";

/** How long a refused connection may take to read its answer before it is destroyed anyway. */
const LINGER_MS = 1000;

/** Node's HTTP parser errors (llhttp `HPE_*`) and its header/request timeout, as catalogue codes. */
export function clientErrorCode(code: string | undefined): ErrorCode | null {
  if (code === "HPE_HEADER_OVERFLOW") return "headers_too_large";
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") return "request_timeout";
  if (code?.startsWith("HPE_")) return "malformed_request";
  return null;
}

/** Why a connection closed before it carried a request (`fleetgate_http_connections_closed_total` reasons). */
export function connectionCloseReason(code: string | undefined): string {
  if (code === "ERR_TLS_HANDSHAKE_TIMEOUT") return "handshake_timeout";
  if (code === "ECONNRESET") return "client_reset";
  return "handshake_failed";
}

type ConnectionError = Error & { code?: string };
/** Node sets `parser` on a socket once its HTTP connection listener ran, i.e. after a TLS handshake. */
type MaybeHttpSocket = Socket & { parser?: unknown; _httpMessage?: { headersSent?: boolean } | null };

/**
 * fastify's `clientErrorHandler` seam, which Node calls for every error on a connection that is not
 * inside a request handler. Two kinds arrive here:
 *  - TLS errors before the handshake completed, handshake timeouts included (the https server forwards
 *    `tlsClientError` here, and leaves closing the socket to this handler once one is installed):
 *    the socket is destroyed, nothing is written;
 *  - HTTP parser errors and the header/request timeout: answered with catalogue JSON (431, 408, 400)
 *    unless a response is already under way, then closed.
 */
export function clientErrorHandler(paths: ErrorPaths) {
  const answered = new WeakSet<Socket>();
  return (error: ConnectionError, rawSocket: Socket): void => {
    const socket = rawSocket as MaybeHttpSocket;
    // One answer per connection: bytes that keep coming after a parser error must not each be refused.
    if (answered.has(socket)) return;
    answered.add(socket);
    const code = clientErrorCode(error.code);
    if (socket.parser === undefined || code === null) {
      if (socket.parser === undefined)
        paths.metrics.httpConnectionsClosed.inc({ service: paths.service, reason: connectionCloseReason(error.code) });
      paths.logger.debug({ service: paths.service, ip: socket.remoteAddress, error: error.code }, "connection closed");
      socket.destroy();
      return;
    }
    socket.pause();
    const refusal = new FleetgateError(code, error.code ?? error.message);
    const address = socket.remoteAddress ?? "unknown";
    noteRefusal(paths, refusal, { method: "-", url: null, ip: address });
    if (code === "request_timeout")
      paths.metrics.httpConnectionsClosed.inc({ service: paths.service, reason: "request_timeout" });
    const early = { address, code, detail: refusal.detail!, url: null };
    void Promise.resolve(paths.onEarlyRefusal?.(early)).finally(() => answerAndClose(socket, refusal));
  };
}

function answerAndClose(socket: MaybeHttpSocket, error: FleetgateError): void {
  // As Node does it: never write into a response that has already started on this socket.
  if (!socket.writable || socket._httpMessage?.headersSent === true) return void socket.destroy();
  const status = ERROR_CATALOGUE[error.code].status;
  const body = JSON.stringify(error.toPublicJSON());
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}`,
    "Content-Type: application/json; charset=utf-8",
    `Content-Length: ${Buffer.byteLength(body)}`,
    "Connection: close",
  ];
  socket.end(`${head.join("\r\n")}\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
