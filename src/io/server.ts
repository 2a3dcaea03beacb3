/**
 * net-style entry points: `createServer()` and `connect()`, as utp-native has them.
 *
 * A Server is a UtpSocket that listens: the same port can also `connect()` out (utp-native's
 * createServer returns its socket object too). It is async-iterable:
 *
 *   for await (const socket of server) handle(socket);
 *
 * yields accepted sockets in order and ends when `close()` is called (buffered sockets first).
 */
import type { UtpSocketOptions } from './config.js';
import { invalidArgType, LocalError } from './errors.js';
import type { Socket } from './socket.js';
import { UtpSocket } from './utp-socket.js';

export { type ConnectOptions, connect, connect as createConnection, type ListenOptions } from './utp-socket.js';

export type ServerOptions = UtpSocketOptions;

export class Server extends UtpSocket {
  /** net's `new Server([options], [connectionListener])`, the same as createServer(). */
  constructor(options?: ServerOptions | ((socket: Socket) => void), connectionListener?: (socket: Socket) => void) {
    if (typeof options === 'function') {
      connectionListener = options;
      options = undefined;
    }
    if (connectionListener !== undefined && typeof connectionListener !== 'function') {
      throw invalidArgType('connectionListener', 'of type function', connectionListener);
    }
    super(options);
    if (connectionListener) this.on('connection', connectionListener);
  }

  /** net's: the number of incoming connections open, to the callback (on the next tick). */
  getConnections(cb: (err: Error | null, count: number) => void): this {
    if (typeof cb !== 'function') throw invalidArgType('callback', 'of type function', cb);
    let n = 0;
    for (const s of this.connections) if (!s.initiator) n++;
    process.nextTick(cb, null, n);
    return this;
  }

  /**
   * Stop accepting; the port closes once the open connections have ended ('close'). As net's, the
   * callback gets ERR_SERVER_NOT_RUNNING when the server was not listening (never, or no longer).
   */
  override close(cb?: (err?: Error) => void): this {
    if (cb !== undefined && typeof cb !== 'function') throw invalidArgType('callback', 'of type function', cb);
    const running = !this.closing && (this.state === 'bound' || this.state === 'binding');
    if (running || cb === undefined) return super.close(cb);
    const err = new LocalError('ERR_SERVER_NOT_RUNNING', 'Server is not running.');
    if (this.state === 'closed') process.nextTick(cb, err);
    else this.once('close', () => cb(err));
    return super.close();
  }
}

/** net's `createServer([options], [connectionListener])`. */
export function createServer(connectionListener?: (socket: Socket) => void): Server;
export function createServer(options?: ServerOptions, connectionListener?: (socket: Socket) => void): Server;
export function createServer(
  opts?: ServerOptions | ((socket: Socket) => void),
  onConnection?: (socket: Socket) => void,
): Server {
  return new Server(opts, onConnection);
}
