import type { UtpSocketOptions } from './config.js';
import { connect, createServer } from './server.js';
import { UtpSocket } from './utp-socket.js';

export {
  DEFAULT_BACKLOG,
  IPV4_MTU_CEILING,
  IPV6_MTU_CEILING,
  isLoopback,
  LOOPBACK_MTU_CEILING,
  LOOPBACK_MTU_CEILING_LARGE,
  loopbackCeilingFor,
  MAX_PACKET_SIZE,
  MIN_PACKET_SIZE,
  ONE_OFF_LINGER_MS,
  type ProtocolOptions,
  resolveConfig,
  type SocketOptions,
  type UtpSocketOptions,
} from './config.js';
export { AbortError, ConnectionError, type ConnectionErrorCode, LocalError, UtpError } from './errors.js';
export {
  type ConnectOptions,
  connect,
  createServer,
  type ListenOptions,
  Server,
  type ServerOptions,
} from './server.js';
export {
  type AddressInfo,
  type Outcome,
  type ReadyState,
  Socket,
  type SocketConstructorOptions,
  type SocketEvents,
  type SocketState,
  type SocketStats,
} from './socket.js';
export { type LookupFunction, type RemoteInfo, UtpSocket, type UtpSocketEvents } from './utp-socket.js';

/**
 * utp-native's shape: `utp()` makes a shared socket, `utp.createServer()` and `utp.connect()` the
 * net-style API, so `const utp = require('utp-native')` users can swap the import.
 */
export const utp: ((opts?: UtpSocketOptions) => UtpSocket) & {
  createServer: typeof createServer;
  connect: typeof connect;
} = Object.assign((opts?: UtpSocketOptions) => new UtpSocket(opts), { createServer, connect });
