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
import type { Socket, SocketOptions } from './socket.js';
import { ONE_OFF_LINGER_MS, UtpSocket, type UtpSocketOptions } from './utp-socket.js';

export type ServerOptions = UtpSocketOptions;

export class Server extends UtpSocket {}

export function createServer(
  opts?: ServerOptions | ((socket: Socket) => void),
  onConnection?: (socket: Socket) => void,
): Server {
  if (typeof opts === 'function') return createServer(undefined, opts);
  const server = new Server(opts);
  if (onConnection) server.on('connection', onConnection);
  return server;
}

export interface ConnectOptions extends UtpSocketOptions, SocketOptions {}

/**
 * Connect from a UDP port of its own, which closes when the connection ends (as utp-native's
 * `connect`), after answering late packets for a while without holding the process open. The
 * default host is 127.0.0.1.
 */
export function connect(port: number, host = '127.0.0.1', opts: ConnectOptions = {}): Socket {
  const udp = new UtpSocket({ lingerMs: ONE_OFF_LINGER_MS, ...opts });
  const socket = udp.connect(port, host);
  // Closing only stops accepting; the port stays open until its one connection has ended.
  udp.close();
  return socket;
}
