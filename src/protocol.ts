/**
 * `utpx/protocol`: everything below the Node API, for those who test, audit or build on the
 * protocol — the BEP 29 packet codec (src/wire), the plain per-packet modules and the connection
 * core (src/core), the lifecycle statechart and the glue that runs it beside the core
 * (src/machines), and the sans-IO endpoint that demultiplexes datagrams to connections. None of it
 * touches a socket or a clock: bring a `Transport`, a `TimerQueue` and `now()`.
 *
 * @module utpx/protocol
 */

export * from './core/byte-queue.js';
export * from './core/connection.js';
export * from './core/in-flight.js';
export * from './core/ledbat.js';
export * from './core/mtu.js';
export * from './core/reorder-buffer.js';
export * from './core/rtt.js';
export * from './core/sack.js';
export * from './core/timer-queue.js';
export {
  DEFAULT_SYN_QUEUE,
  Endpoint,
  type EndpointOptions,
  type EndpointStats,
  type Transport,
} from './endpoint/endpoint.js';
export * from './machines/connection.js';
export * from './machines/connection.machine.js';
export * from './trace/format.js';
export * from './wire/index.js';
export * from './wire/writer.js';
