/**
 * Shared pieces of the simulator tests: seeds that can be overridden from the environment and are
 * printed on failure, endpoints whose initial sequence numbers a test can choose, a transport that
 * drops packets a test names, and byte sources and sinks that check integrity without keeping a
 * copy of everything received.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Connection, ConnectionConfig, ConnectionTrace } from '../../src/machines/connection.js';
import type { SimNetwork } from '../../src/sim/network.js';
import { createSimEndpoint, type SimEndpoint, type SimEndpointOptions } from '../../src/sim/utp.js';

/**
 * The seed a test runs with: `SIM_SEED` from the environment when set (to replay a failure), the
 * test's own otherwise.
 */
export function simSeed(fallback: number): number {
  const env = process.env.SIM_SEED;
  if (env === undefined || env === '') return fallback;
  const n = Number(env);
  if (!Number.isSafeInteger(n)) throw new RangeError(`SIM_SEED must be an integer, got ${env}`);
  return n;
}

/**
 * Runs a test body and, if it throws, adds the seed and the command that replays it to the error,
 * so a failure in CI can be reproduced exactly.
 */
export function withSeed(seed: number, file: string, body: () => void): void {
  try {
    body();
  } catch (e) {
    if (e instanceof Error) {
      e.message += `\n    seed ${seed} — re-run with: SIM_SEED=${seed} npx vitest run ${file}`;
    }
    throw e;
  }
}

/** uTP packet type of a datagram (BEP 29: high nibble of the first byte). */
export function packetType(buf: Uint8Array): number {
  return (buf[0] ?? 0) >> 4;
}

export interface PeerOptions {
  connection?: ConnectionConfig;
  maxHalfOpen?: number;
  trace?: ConnectionTrace;
  /**
   * 16-bit values handed out before the network's PRNG takes over. The endpoint draws, in order:
   * for `connect`, the receive connection id and then the initial seq_nr; for an accepted SYN, the
   * initial seq_nr. So `[id, seq]` on the initiator and `[seq]` on the acceptor pin both sides.
   */
  forced16?: number[];
  /** Datagrams for which this returns true are not sent (a one-sided, deterministic filter). */
  drop?: (buf: Uint8Array, length: number) => boolean;
}

export type Peer = SimEndpoint;

/** `createSimEndpoint` with chosen 16-bit random draws: what the wrap-around tests need. */
export function createPeer(net: SimNetwork, address: string, port: number, opts: PeerOptions = {}): Peer {
  const forced = [...(opts.forced16 ?? [])];
  const simOpts: SimEndpointOptions = {
    // The endpoint turns a draw r into floor(r · 65536); the middle of the bucket survives rounding.
    random: () => {
      const v = forced.shift();
      return v === undefined ? net.prng.next() : (v + 0.5) / 0x10000;
    },
  };
  if (opts.drop) simOpts.drop = opts.drop;
  if (opts.connection) simOpts.connection = opts.connection;
  if (opts.maxHalfOpen !== undefined) simOpts.maxHalfOpen = opts.maxHalfOpen;
  if (opts.trace) simOpts.trace = opts.trace;
  return createSimEndpoint(net, address, port, simOpts);
}

/** Hashes what a connection delivers, so a 16 MiB transfer is checked without keeping 16 MiB of chunks. */
export class Sink {
  bytes = 0;
  ended = false;
  private readonly hash: Hash = createHash('sha256');

  add(payload: Uint8Array): void {
    this.bytes += payload.length;
    this.hash.update(payload);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Writes `data` in `chunkBytes` pieces, honouring backpressure: it stops when `write` returns false
 * and goes on from `onDrain`. Ends the connection after the last piece when `end` is set.
 * Returns a function that reports how many bytes were handed to `write` so far.
 */
export function pump(conn: Connection, data: Uint8Array, chunkBytes: number, end: boolean): () => number {
  let offset = 0;
  const go = () => {
    while (offset < data.length) {
      const n = Math.min(chunkBytes, data.length - offset);
      const ok = conn.write(data.subarray(offset, offset + n));
      offset += n;
      if (!ok) return;
    }
    if (end) conn.end();
  };
  const prev = conn.events.onDrain;
  conn.events.onDrain = () => {
    prev?.();
    go();
  };
  go();
  return () => offset;
}

/**
 * An endless writer: keeps the send queue topped up with `chunk` (bulk traffic for congestion
 * tests). Returns the number of bytes written so far.
 */
export function bulk(conn: Connection, chunk: Uint8Array): () => number {
  let written = 0;
  const go = () => {
    while (!conn.closed) {
      written += chunk.length;
      if (!conn.write(chunk)) return;
    }
  };
  const prev = conn.events.onDrain;
  conn.events.onDrain = () => {
    prev?.();
    go();
  };
  go();
  return () => written;
}

/** Compact, stable stats for a failure message or a log line. */
export function brief(conn: Connection | undefined): string {
  if (conn === undefined) return 'no connection';
  const s = conn.core.stats();
  return (
    `outcome=${conn.outcome ?? '-'}${conn.code ? `/${conn.code}` : ''} state=${JSON.stringify(conn.state)} ` +
    `sent=${s.packetsSent} recv=${s.packetsReceived} rexmit=${s.retransmits} fast=${s.fastRetransmits} ` +
    `rto=${s.timeouts} srtt=${(s.srttUs / 1000).toFixed(1)}ms rtoUs=${Math.round(s.rtoUs)} cwnd=${Math.round(s.cwnd)} ` +
    `inflight=${s.packetsInFlight} pkt=${s.packetSize} peerWnd=${s.peerWindow} zwp=${s.zeroWindowProbes} ` +
    `mtuProbes=${s.mtuProbes}/${s.mtuProbesLost} lost invalidAcks=${s.invalidAcks} tlp=${s.tailProbes}`
  );
}
