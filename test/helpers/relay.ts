import { UdpTransport } from '../../src/io/udp.js';
import { deriveSeed, Prng } from '../../src/sim/prng.js';

/**
 * A lossy UDP relay on loopback for interop tests. Clients send to the relay's port; each client
 * (address:port) gets its own upstream socket towards the target, so the server sees one distinct
 * source per client, and replies travel back the same way.
 *
 * Impairments are decided by a seeded PRNG per client and direction, drawing the same number of
 * values for every datagram, so datagram i of a flow meets the same fate in every run with the same
 * seed (timing still varies: this is a real network path).
 */

export type Direction = 'c2s' | 's2c';

export interface Impairments {
  /** Probability of silently discarding a datagram. */
  loss?: number;
  /** Probability of delivering a datagram twice. */
  duplicate?: number;
  /** Probability of holding a datagram back and releasing it after the next one, or after reorderDelayMs. */
  reorder?: number;
  /** How long a held datagram waits for a successor before it is released anyway (default 5 ms). */
  reorderDelayMs?: number;
  /**
   * Deterministic drops, checked before the random ones. `index` counts this client's datagrams in
   * this direction from 0; `client` numbers clients in order of first contact, from 0.
   */
  drop?: (buf: Buffer, dir: Direction, index: number, client: number) => boolean;
}

export interface RelayOptions extends Impairments {
  target: { address: string; port: number };
  seed: number;
  /** Kernel receive buffer for the relay's sockets (default 4 MiB, so the relay is not the bottleneck). */
  recvBufferSize?: number;
  /** Listening address (default 127.0.0.1). */
  address?: string;
}

export interface DirectionStats {
  /** Datagrams that reached the relay. */
  received: number;
  /** Datagrams sent on, duplicates included. */
  forwarded: number;
  /** Discarded by `drop`. */
  dropped: number;
  /** Discarded by `loss`. */
  lost: number;
  duplicated: number;
  reordered: number;
}

export interface RelayStats {
  c2s: DirectionStats;
  s2c: DirectionStats;
  clients: number;
}

export interface Relay {
  port: number;
  address: string;
  stats: RelayStats;
  /** Changes impairments from now on (e.g. start dropping everything mid-transfer). */
  set(impairments: Impairments): void;
  close(): Promise<void>;
}

const DEFAULT_REORDER_DELAY_MS = 5;

interface Lane {
  readonly dir: Direction;
  readonly rand: () => number;
  index: number;
  held: Buffer[] | null;
  heldTimer: NodeJS.Timeout | null;
  /** Sends a datagram on towards this lane's destination. */
  readonly emit: (buf: Buffer) => void;
}

interface Flow {
  readonly id: number;
  readonly upstream: UdpTransport;
  /** Datagrams that arrived before the upstream socket finished binding. */
  pending: Buffer[] | null;
  readonly c2s: Lane;
  readonly s2c: Lane;
}

export async function createRelay(opts: RelayOptions): Promise<Relay> {
  const imp: Impairments = {
    loss: opts.loss,
    duplicate: opts.duplicate,
    reorder: opts.reorder,
    reorderDelayMs: opts.reorderDelayMs,
    drop: opts.drop,
  };
  const stats: RelayStats = { c2s: emptyStats(), s2c: emptyStats(), clients: 0 };
  const bufferOpts = { recvBufferSize: opts.recvBufferSize ?? 4 * 1024 * 1024 };
  const front = new UdpTransport(bufferOpts);
  const flows = new Map<string, Flow>();
  let closed = false;

  const flush = (lane: Lane): void => {
    const held = lane.held;
    if (held === null) return;
    lane.held = null;
    if (lane.heldTimer !== null) clearTimeout(lane.heldTimer);
    lane.heldTimer = null;
    for (const b of held) lane.emit(b);
  };

  const impair = (flow: Flow, lane: Lane, buf: Buffer): void => {
    const s = stats[lane.dir];
    s.received++;
    const index = lane.index++;
    // Always three draws, whatever happens, so datagram i's fate depends only on (seed, flow, dir, i).
    const rLoss = lane.rand();
    const rDup = lane.rand();
    const rReorder = lane.rand();
    if (imp.drop?.(buf, lane.dir, index, flow.id)) {
      s.dropped++;
      return;
    }
    if (rLoss < (imp.loss ?? 0)) {
      s.lost++;
      return;
    }
    const copies = rDup < (imp.duplicate ?? 0) ? [buf, buf] : [buf];
    if (copies.length === 2) s.duplicated++;
    if (lane.held === null && rReorder < (imp.reorder ?? 0)) {
      s.reordered++;
      lane.held = copies;
      lane.heldTimer = setTimeout(() => flush(lane), imp.reorderDelayMs ?? DEFAULT_REORDER_DELAY_MS);
      return;
    }
    for (const b of copies) lane.emit(b);
    flush(lane);
  };

  const newFlow = (address: string, port: number): Flow => {
    const id = stats.clients++;
    const upstream = new UdpTransport(bufferOpts);
    const c2s: Lane = {
      dir: 'c2s',
      rand: prng(opts.seed, id, 0),
      index: 0,
      held: null,
      heldTimer: null,
      emit: (b) => {
        stats.c2s.forwarded++;
        if (flow.pending !== null) flow.pending.push(b);
        else upstream.send(b, 0, b.length, opts.target.port, opts.target.address);
      },
    };
    const s2c: Lane = {
      dir: 's2c',
      rand: prng(opts.seed, id, 1),
      index: 0,
      held: null,
      heldTimer: null,
      emit: (b) => {
        stats.s2c.forwarded++;
        front.send(b, 0, b.length, port, address);
      },
    };
    const flow: Flow = { id, upstream, pending: [], c2s, s2c };
    upstream.onMessage((buf) => impair(flow, s2c, buf));
    upstream.bind(0, opts.target.address.includes(':') ? '::' : '0.0.0.0').then(
      () => {
        const pending = flow.pending ?? [];
        flow.pending = null;
        for (const b of pending) upstream.send(b, 0, b.length, opts.target.port, opts.target.address);
      },
      () => {
        flow.pending = null; // the flow is dead; later datagrams are counted as send errors
      },
    );
    return flow;
  };

  front.onMessage((buf, address, port) => {
    if (closed) return;
    const key = `${address}|${port}`;
    let flow = flows.get(key);
    if (flow === undefined) {
      flow = newFlow(address, port);
      flows.set(key, flow);
    }
    impair(flow, flow.c2s, buf);
  });

  await front.bind(0, opts.address ?? '127.0.0.1');
  const { address, port } = front.address();

  return {
    port,
    address,
    stats,
    set(next: Impairments): void {
      Object.assign(imp, next);
    },
    async close(): Promise<void> {
      closed = true;
      const all = [...flows.values()];
      for (const f of all) {
        for (const lane of [f.c2s, f.s2c]) {
          if (lane.heldTimer !== null) clearTimeout(lane.heldTimer);
          lane.heldTimer = null;
          lane.held = null;
        }
      }
      await Promise.all([front.close(), ...all.map((f) => f.upstream.close())]);
    },
  };
}

function emptyStats(): DirectionStats {
  return { received: 0, forwarded: 0, dropped: 0, lost: 0, duplicated: 0, reordered: 0 };
}

/** A seeded stream per flow and direction, so lanes draw independent sequences. */
function prng(seed: number, flow: number, dir: number): () => number {
  const p = new Prng(deriveSeed(seed, `relay flow ${flow} dir ${dir}`));
  return () => p.next();
}
