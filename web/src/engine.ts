/**
 * The playground's one door into the library. Everything web/ uses from src/ comes through here, so
 * when modules move (the endpoint to a sans-IO folder, the chart's context to plain data) only this
 * file changes. Nothing imported here may reach a `node:*` module: the bundle runs in a browser.
 */
export type { Connection, ConnectionTraceRecord } from '../../src/machines/connection.js';
export { connectionMachine } from '../../src/machines/connection.machine.js';
export { chartOutline, type StateOutline, type TransitionOutline } from '../../src/machines/outline.js';
export type { LinkOptions, LinkStats, SimSocket } from '../../src/sim/network.js';
export { SIM_START_US, SimNetwork } from '../../src/sim/network.js';
export { deriveSeed, Prng } from '../../src/sim/prng.js';
export { RenoFlow, type RenoStats } from '../../src/sim/reno.js';
export { createSimEndpoint, type SimEndpoint } from '../../src/sim/utp.js';
export {
  type ConnKey,
  connKey,
  type DropEventData,
  type MetricsEventData,
  metricsFrom,
  type PacketEventData,
  parseTrace,
  recordToEvent,
  type StateEventData,
  serializeEvent,
  stateName,
  type Trace,
  type TraceEvent,
  type TraceHeader,
  traceHeader,
} from '../../src/trace/format.js';
export { TYPE_NAMES } from '../../src/wire/constants.js';
