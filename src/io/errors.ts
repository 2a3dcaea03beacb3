/**
 * Errors the Node-facing API raises. They look like `net`'s system errors (`code`, `syscall`,
 * `address`, `port`), so code written for TCP sockets recognises them, and they say whose fault they
 * are: the peer's (reset, refused), the path's (timed out) or ours (misuse of the API).
 *
 * Bad arguments throw at once as Node's own checks do: a TypeError or RangeError whose `code` is
 * Node's (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE, ERR_INVALID_ARG_VALUE, ERR_SOCKET_BAD_PORT,
 * ERR_MISSING_ARGS) and whose message names the option and the value received.
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

// ---------------------------------------------------------------- argument errors, as Node words them

/** A TypeError or RangeError carrying Node's `code`, printed as Node prints its own: `RangeError [CODE]: …`. */
export type ArgumentError = (TypeError | RangeError) & { code: string };

function argumentError(Ctor: typeof TypeError | typeof RangeError, code: string, message: string): ArgumentError {
  const err = new Ctor(message) as ArgumentError;
  Object.defineProperty(err, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  // Node's own: the stack's first line names the code.
  err.name = `${Ctor.name} [${code}]`;
  void err.stack;
  err.name = Ctor.name;
  return err;
}

/** How Node's messages describe a received value: `type number (70000)`, `type string ('x')`, `undefined`. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return `function ${(value as { name?: string }).name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: string } }).constructor?.name;
    return name ? `an instance of ${name}` : 'an object';
  }
  let shown = typeof value === 'string' ? `'${value.length > 28 ? `${value.slice(0, 25)}...` : value}'` : String(value);
  if (typeof value === 'bigint') shown += 'n';
  return `type ${typeof value} (${shown})`;
}

function received(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return `'${value}'`;
  return describeValue(value);
}

/** ERR_INVALID_ARG_TYPE: `The "options.x" property must be of type boolean. Received type number (1)`. */
export function invalidArgType(name: string, expected: string, value: unknown): ArgumentError {
  const what = name.includes('.') ? 'property' : 'argument';
  return argumentError(
    TypeError,
    'ERR_INVALID_ARG_TYPE',
    `The "${name}" ${what} must be ${expected}. Received ${describeValue(value)}`,
  );
}

/** ERR_OUT_OF_RANGE: `The value of "options.x" is out of range. It must be >= 1 && <= 10. Received 70000`. */
export function outOfRange(name: string, range: string, value: unknown): ArgumentError {
  return argumentError(
    RangeError,
    'ERR_OUT_OF_RANGE',
    `The value of "${name}" is out of range. It must be ${range}. Received ${received(value)}`,
  );
}

/** ERR_INVALID_ARG_VALUE: `The property 'options.x' must be a power of two. Received 1000`. */
export function invalidArgValue(name: string, value: unknown, reason: string): ArgumentError {
  const what = name.includes('.') ? 'property' : 'argument';
  return argumentError(
    TypeError,
    'ERR_INVALID_ARG_VALUE',
    `The ${what} '${name}' ${reason}. Received ${received(value)}`,
  );
}

/** ERR_SOCKET_BAD_PORT, as net.connect(70000) throws it. */
export function badPort(name: string, value: unknown, allowZero: boolean): ArgumentError {
  const prefix = name === 'port' ? 'Port' : `${name}`;
  return argumentError(
    RangeError,
    'ERR_SOCKET_BAD_PORT',
    `${prefix} should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${describeValue(value)}.`,
  );
}

/** ERR_MISSING_ARGS, as net.connect() throws it. */
export function missingArgs(names: string): ArgumentError {
  return argumentError(TypeError, 'ERR_MISSING_ARGS', `The ${names} argument must be specified`);
}

/** What an AbortSignal ends a socket or a listen with, as Node's: code ABORT_ERR, the signal's reason as `cause`. */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';

  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}
