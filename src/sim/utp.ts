/**
 * utpx endpoints on the simulated network: the same Endpoint the Node sockets use, bound to a
 * SimSocket and the simulator's clock and timer queue. Output is flushed once per simulated
 * instant (after every datagram and timer due at that time), the way the Node driver flushes once
 * per event-loop turn.
 */
import { Endpoint, type EndpointOptions } from '../endpoint/endpoint.js';
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
  /**
   * Hold outgoing datagrams by reference this many µs (a number, or per datagram) before the
   * network copies them, and tell the sender so — what Node's dgram does with a datagram the kernel
   * buffer could not take at once. Bytes that changed while held are counted in
   * `rewrittenWhileHeld` (and sent as they are then, as the kernel would). Default 0: copied at once.
   */
  holdSendsUs?: number | ((datagram: Uint8Array, length: number) => number);
}

export interface SimEndpoint {
  readonly endpoint: Endpoint;
  readonly socket: SimSocket;
  /** Datagrams the `drop` filter swallowed. */
  readonly dropped: number;
  /** Held datagrams (see `holdSendsUs`) whose bytes the sender changed before they left. */
  readonly rewrittenWhileHeld: number;
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
  const hold = opts.holdSendsUs ?? 0;
  let dropped = 0;
  let rewritten = 0;
  const endpointOpts: EndpointOptions = {
    transport:
      drop === undefined && hold === 0
        ? socket
        : {
            send(buf, offset, length, toPort, toAddress) {
              const view = buf.subarray(offset, offset + length);
              if (drop?.(view, length)) {
                dropped++;
                return false;
              }
              const us = typeof hold === 'number' ? hold : hold(view, length);
              if (us <= 0) {
                socket.send(buf, offset, length, toPort, toAddress);
                return false;
              }
              const snapshot = view.slice();
              net.timers.schedule(net.now() + us, () => {
                if (!sameBytes(view, snapshot)) rewritten++;
                if (!socket.closed) socket.send(buf, offset, length, toPort, toAddress);
              });
              return true;
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
    get rewrittenWhileHeld() {
      return rewritten;
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

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
