/**
 * utpx: uTP (BEP 29) with LEDBAT for Node.js.
 *
 * The Node API (`createServer`, `connect`, `utp`, `Socket`) is what most users want; the codec, the
 * core modules, the lifecycle chart and the simulator are exported for those who test, audit or
 * build on the protocol.
 */
export * from './core/connection.js';
export * from './core/in-flight.js';
export * from './core/ledbat.js';
export * from './core/mtu.js';
export * from './core/reorder-buffer.js';
export * from './core/rtt.js';
export * from './core/sack.js';
export * from './core/timer-queue.js';
export { Endpoint, type EndpointOptions, type EndpointStats, type Transport } from './endpoint/endpoint.js';
export * from './io/index.js';
export { utp as default } from './io/index.js';
export * from './machines/connection.js';
export * from './machines/connection.machine.js';
export * from './sim/index.js';
export * from './wire/index.js';
