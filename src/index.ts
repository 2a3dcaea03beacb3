/**
 * utpx: uTP (BEP 29) with LEDBAT for Node.js — the Node API: `createServer`, `connect`, `utp()`
 * (the default export), the sockets, their errors and their option and statistics types.
 *
 * The packet codec, the protocol core, the lifecycle chart and the sans-IO endpoint are on
 * `utpx/protocol`; the deterministic network simulator is on `utpx/sim`.
 *
 * @module utpx
 */
export type { ConnectionStats } from './core/connection.js';
export type { LedbatOptions } from './core/ledbat.js';
export {
  DEFAULT_BACKLOG,
  MAX_PACKET_SIZE,
  MIN_PACKET_SIZE,
  type ProtocolOptions,
  type SocketOptions,
  type UtpSocketOptions,
} from './io/config.js';
export { AbortError, ConnectionError, type ConnectionErrorCode, LocalError, UtpError } from './io/errors.js';
export { utp, utp as default } from './io/index.js';
export {
  type ConnectOptions,
  connect,
  createConnection,
  createServer,
  type ListenOptions,
  Server,
  type ServerOptions,
} from './io/server.js';
export {
  type AddressInfo,
  type Outcome,
  type ReadyState,
  Socket,
  type SocketConstructorOptions,
  type SocketEvents,
  type SocketState,
  type SocketStats,
} from './io/socket.js';
export { type LookupFunction, type RemoteInfo, UtpSocket, type UtpSocketEvents } from './io/utp-socket.js';
export type {
  ConnectionTrace,
  ConnectionTraceRecord,
  InspectObserver,
  PacketTraceRecord,
  StateTraceRecord,
} from './machines/connection.js';
