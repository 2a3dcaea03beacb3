/**
 * utpx endpoints on the simulated network: the same Endpoint the Node sockets use, bound to a
 * SimSocket and the simulator's clock and timer queue. Output is flushed once per simulated
 * instant (after every datagram and timer due at that time), the way the Node driver flushes once
 * per event-loop turn.
 */
import { Endpoint, type EndpointOptions } from '../io/endpoint.js';
import type { ConnectionConfig, ConnectionTrace } from '../machines/connection.js';
import type { SimNetwork, SimSocket } from './network.js';

export interface SimEndpointOptions {
  connection?: ConnectionConfig;
  maxHalfOpen?: number;
  trace?: ConnectionTrace;
}

export interface SimEndpoint {
  readonly endpoint: Endpoint;
  readonly socket: SimSocket;
  close(): void;
}

export function createSimEndpoint(
  net: SimNetwork,
  address: string,
  port: number,
  opts: SimEndpointOptions = {},
): SimEndpoint {
  const socket = net.bind(address, port);
  const endpointOpts: EndpointOptions = {
    transport: socket,
    timers: net.timers,
    now: () => net.now(),
    random: () => net.prng.next(),
  };
  if (opts.connection) endpointOpts.connection = opts.connection;
  if (opts.maxHalfOpen !== undefined) endpointOpts.maxHalfOpen = opts.maxHalfOpen;
  if (opts.trace) endpointOpts.trace = opts.trace;
  const endpoint = new Endpoint(endpointOpts);
  socket.onMessage((buf, from, fromPort) => endpoint.handleDatagram(buf, from, fromPort));
  const stopIdle = net.onIdle(() => endpoint.flush());
  return {
    endpoint,
    socket,
    close() {
      // Connections end first (FIN or RST goes out), so no timer of theirs outlives the socket.
      endpoint.close(true);
      endpoint.flush();
      stopIdle();
      socket.close();
    },
  };
}
