import { connect, createServer } from './server.js';
import { UtpSocket, type UtpSocketOptions } from './utp-socket.js';

export { ConnectionError, type ConnectionErrorCode, LocalError, UtpError } from './errors.js';
export { type ConnectOptions, connect, createServer, Server, type ServerOptions } from './server.js';
export { type AddressInfo, Socket, type SocketOptions } from './socket.js';
export {
  DEFAULT_BACKLOG,
  IPV4_MTU_CEILING,
  IPV6_MTU_CEILING,
  isLoopback,
  LOOPBACK_MTU_CEILING,
  ONE_OFF_LINGER_MS,
  type RemoteInfo,
  UtpSocket,
  type UtpSocketOptions,
} from './utp-socket.js';

/**
 * utp-native's shape: `utp()` makes a shared socket, `utp.createServer()` and `utp.connect()` the
 * net-style API, so `const utp = require('utp-native')` users can swap the import.
 */
export const utp: ((opts?: UtpSocketOptions) => UtpSocket) & {
  createServer: typeof createServer;
  connect: typeof connect;
} = Object.assign((opts?: UtpSocketOptions) => new UtpSocket(opts), { createServer, connect });
