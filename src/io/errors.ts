/**
 * Errors the Node-facing API raises. They look like `net`'s system errors (`code`, `syscall`,
 * `address`, `port`), so code written for TCP sockets recognises them, and they say whose fault they
 * are: the peer's (reset, refused), the path's (timed out) or ours (misuse of the API).
 */

export type ConnectionErrorCode = 'ECONNRESET' | 'ETIMEDOUT' | 'ECONNREFUSED';

export class UtpError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'UtpError';
    this.code = code;
  }
}

/** A connection ended by the peer or the path, not by us. */
export class ConnectionError extends UtpError {
  readonly syscall: 'connect' | 'read';
  readonly address: string;
  readonly port: number;

  constructor(code: ConnectionErrorCode, address: string, port: number, duringConnect: boolean) {
    const syscall = duringConnect ? 'connect' : 'read';
    super(code, `${syscall} ${code} ${address}:${port}`);
    this.name = 'ConnectionError';
    this.syscall = syscall;
    this.address = address;
    this.port = port;
  }
}

/** The caller asked for something this socket cannot do (wrong address family, closed socket). */
export class LocalError extends UtpError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'LocalError';
  }
}

export function isConnectionErrorCode(code: string | undefined): code is ConnectionErrorCode {
  return code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'ECONNREFUSED';
}
