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
  /** Random draws in [0, 1) for connection ids and initial seq_nrs (default: the network's PRNG). */
  random?: () => number;
  /** Drop outgoing datagrams this returns true for (a test's loss pattern, before the link's own). */
  drop?: (datagram: Uint8Array, length: number) => boolean;
}

export interface SimEndpoint {
  readonly endpoint: Endpoint;
  readonly socket: SimSocket;
  /** Datagrams the `drop` filter swallowed. */
  readonly dropped: number;
  close(): void;
}

export function createSimEndpoint(
  net: SimNetwork,
  address: string,
  port: number,
  opts: SimEndpointOptions = {},
): SimEndpoint {
  const socket = net.bind(address, port);
  const drop = opts.drop;
  let dropped = 0;
  const endpointOpts: EndpointOptions = {
    transport:
      drop === undefined
        ? socket
        : {
            send(buf, offset, length, toPort, toAddress) {
              if (drop(offset === 0 ? buf : buf.subarray(offset), length)) dropped++;
              else socket.send(buf, offset, length, toPort, toAddress);
            },
          },
    timers: net.timers,
    now: () => net.now(),
    random: opts.random ?? (() => net.prng.next()),
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
    get dropped() {
      return dropped;
    },
    close() {
      // Connections end first (FIN or RST goes out), so no timer of theirs outlives the socket.
      endpoint.close(true);
      endpoint.flush();
      stopIdle();
      socket.close();
    },
  };
}
