/**
 * The session docs/protocol.md walks through: two utpx endpoints on the seeded simulator, A sends
 * ten full packets to B and closes, B closes back. Three of A's datagrams are lost on purpose (the
 * third DATA, and the FIN twice), so the one short session shows a SACK, a fast retransmit, a
 * tail-loss probe and a retransmission timeout next to the handshake and the close.
 *
 * Everything is recorded through the endpoints' `trace` option (what a user of `utpx/sim` gets) and
 * a tap on each endpoint's transport for the raw bytes. Retransmissions are told apart by the
 * connection's own counters (`fastRetransmits`, `tailProbes`, `timeouts`), read when the packet
 * goes out. `runWalkthrough` throws when an event the page explains did not happen, so a protocol
 * change that removes one fails `npm run docs` and the staleness test loudly.
 */
import type { Connection, ConnectionTraceRecord } from '../../src/protocol.js';
import { ST_DATA, ST_FIN } from '../../src/protocol.js';
import { createSimEndpoint, SimNetwork } from '../../src/sim/index.js';
import { stateName } from '../../src/trace/format.js';

export const WALK = {
  seed: 29,
  hostA: '10.0.0.1',
  portA: 40000,
  hostB: '10.0.0.2',
  portB: 6881,
  /** One-way delay each way, µs: a 50 ms round trip. */
  delayUs: 25_000,
  /** Datagram size: DPLPMTUD's IPv4 base, and no probing above it, so every DATA is the same size. */
  packetSize: 1172,
  packets: 10,
  /** Which of A's DATA packets (1-based, first transmissions with payload) the network loses. */
  lostData: 3,
  /** How many of A's FIN transmissions are lost (the FIN and both tail-loss probes). */
  lostFins: 3,
} as const;

export type Side = 'A' | 'B';
export type Retransmit = 'fast' | 'tail-probe' | 'timeout';

export interface WalkPacket {
  /** 1-based, in the order the datagrams were sent. */
  n: number;
  from: Side;
  /** ms since the SYN. */
  sentMs: number;
  /** ms since the SYN, or undefined when the network lost it. */
  arrivedMs: number | undefined;
  lost: boolean;
  /** Arrived after the receiver's connection had closed: its endpoint's linger record took it, untraced. */
  afterClose: boolean;
  type: 'DATA' | 'FIN' | 'STATE' | 'RESET' | 'SYN';
  seq: number;
  ack: number;
  wnd: number;
  payload: number;
  size: number;
  sack: readonly number[] | undefined;
  retransmit: Retransmit | undefined;
  bytes: Uint8Array;
}

export interface WalkState {
  side: Side;
  atMs: number;
  state: string;
  trigger: string;
}

export interface Walkthrough {
  packets: WalkPacket[];
  states: WalkState[];
  /** The order of everything, for the ladder: packet sends and arrivals, state changes. */
  timeline: Array<
    { kind: 'send'; packet: WalkPacket } | { kind: 'arrive'; packet: WalkPacket } | { kind: 'state'; state: WalkState }
  >;
  statsA: ReturnType<Connection['stats']>;
  statsB: ReturnType<Connection['stats']>;
  delivered: number;
}

export function runWalkthrough(): Walkthrough {
  const net = new SimNetwork({ seed: WALK.seed });
  const { hostA, hostB, portA, portB } = WALK;
  net.setPath(hostA, hostB, { delayUs: WALK.delayUs });
  const t0 = net.now();
  const ms = (at: number) => (at - t0) / 1000;
  const packets: WalkPacket[] = [];
  const states: WalkState[] = [];
  const timeline: Walkthrough['timeline'] = [];
  const lastOut: Record<Side, WalkPacket | undefined> = { A: undefined, B: undefined };
  const unmatched: Record<Side, WalkPacket[]> = { A: [], B: [] };
  const conns: Partial<Record<Side, Connection>> = {};
  const counters: Record<Side, { fast: number; tlp: number; rto: number }> = {
    A: { fast: 0, tlp: 0, rto: 0 },
    B: { fast: 0, tlp: 0, rto: 0 },
  };

  const record = (side: Side, r: ConnectionTraceRecord) => {
    if (r.kind === 'state') {
      const s: WalkState = { side, atMs: ms(r.at), state: stateName(r.value), trigger: r.event };
      states.push(s);
      timeline.push({ kind: 'state', state: s });
      return;
    }
    if (r.dir === 'out') {
      let retransmit: Retransmit | undefined;
      const conn = conns[side];
      if (r.retransmit && conn !== undefined) {
        const s = conn.stats();
        const c = counters[side];
        if (s.timeouts > c.rto) retransmit = 'timeout';
        else if (s.tailProbes > c.tlp) retransmit = 'tail-probe';
        else if (s.fastRetransmits > c.fast) retransmit = 'fast';
        else throw new Error(`walkthrough: a retransmission at ${ms(r.at)} ms that no counter explains`);
        counters[side] = { fast: s.fastRetransmits, tlp: s.tailProbes, rto: s.timeouts };
      }
      const p: WalkPacket = {
        n: packets.length + 1,
        from: side,
        sentMs: ms(r.at),
        arrivedMs: undefined,
        lost: false,
        afterClose: false,
        type: r.type,
        seq: r.seqNr,
        ack: r.ackNr,
        wnd: r.windowSize,
        payload: r.payload,
        size: r.length,
        sack: r.sack,
        retransmit,
        bytes: new Uint8Array(0),
      };
      packets.push(p);
      lastOut[side] = p;
      unmatched[side].push(p);
      timeline.push({ kind: 'send', packet: p });
    } else {
      // The simulated path keeps order (no jitter): an arrival is the oldest datagram still under
      // way from the other side.
      const other: Side = side === 'A' ? 'B' : 'A';
      const p = unmatched[other].shift();
      if (p === undefined || p.type !== r.type || p.seq !== r.seqNr || p.ack !== r.ackNr) {
        throw new Error(`walkthrough: ${side} received ${r.type} ${r.seqNr} that does not match what was sent`);
      }
      p.arrivedMs = ms(r.at);
      timeline.push({ kind: 'arrive', packet: p });
    }
  };

  let dataSent = 0;
  let finsSent = 0;
  // The tap sees each datagram right after the trace recorded it: keep its bytes, and lose the ones
  // the walkthrough needs lost.
  const tap = (side: Side) => (buf: Uint8Array, length: number) => {
    const p = lastOut[side];
    if (p === undefined) throw new Error('walkthrough: a datagram left before its trace record');
    p.bytes = buf.slice(0, length);
    if (side !== 'A') return false;
    let lose = false;
    const type = (buf[0] as number) >> 4;
    if (type === ST_DATA && length > 20 && !p.retransmit && ++dataSent === WALK.lostData) lose = true;
    if (type === ST_FIN && ++finsSent <= WALK.lostFins) lose = true;
    if (lose) {
      unmatched.A.pop();
      p.lost = true;
    }
    return lose;
  };
  const connection = { packetSize: WALK.packetSize, mtuCeiling: WALK.packetSize };
  const a = createSimEndpoint(net, hostA, portA, { trace: (r) => record('A', r), drop: tap('A'), connection });
  const b = createSimEndpoint(net, hostB, portB, { trace: (r) => record('B', r), drop: tap('B'), connection });
  let delivered = 0;
  b.endpoint.onConnection = (conn) => {
    conns.B = conn;
    conn.events.onData = (payload) => {
      delivered += payload.length;
    };
    // B has nothing to send: it ends its side once A's stream has ended.
    conn.events.onEnd = () => conn.end();
  };
  const connA = a.endpoint.connect(portB, hostB);
  conns.A = connA;
  const payload = new Uint8Array(WALK.packets * (WALK.packetSize - 20));
  for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
  connA.write(payload);
  connA.end();
  net.run({ until: () => connA.closed && conns.B?.closed === true, maxTimeUs: 60_000_000 });
  if (!connA.closed || conns.B?.closed !== true) throw new Error('walkthrough: the connections did not close');
  if (delivered !== payload.length) throw new Error(`walkthrough: B received ${delivered} of ${payload.length} bytes`);
  // What is still under way arrived after its receiver closed (the path keeps order, so all of it).
  for (const side of ['A', 'B'] as const) {
    for (const p of unmatched[side]) {
      p.arrivedMs = p.sentMs + WALK.delayUs / 1000;
      p.afterClose = true;
    }
  }

  const w: Walkthrough = {
    packets,
    states,
    timeline,
    statsA: connA.stats(),
    statsB: (conns.B as Connection).stats(),
    delivered,
  };
  if (!process.env.WALK_NOCHECK) checkWalkthrough(w);
  return w;
}

/** The events docs/protocol.md explains: each must be in the session. */
export function checkWalkthrough(w: Walkthrough): void {
  const missing: string[] = [];
  const has = (what: string, ok: boolean) => {
    if (!ok) missing.push(what);
  };
  const syn = w.packets.find((p) => p.type === 'SYN');
  has('a SYN', syn !== undefined && syn.from === 'A');
  has(
    'a SYN-ACK (a STATE from B acking the SYN)',
    w.packets.some((p) => p.from === 'B' && p.type === 'STATE' && p.ack === syn?.seq),
  );
  has(
    'DATA',
    w.packets.some((p) => p.type === 'DATA' && p.payload > 0 && p.arrivedMs !== undefined),
  );
  has(
    'a lost DATA packet',
    w.packets.some((p) => p.type === 'DATA' && p.lost),
  );
  has(
    'a SACK',
    w.packets.some((p) => p.type === 'STATE' && (p.sack?.length ?? 0) > 0),
  );
  has(
    'a fast retransmit',
    w.packets.some((p) => p.retransmit === 'fast'),
  );
  has(
    'a tail-loss probe',
    w.packets.some((p) => p.retransmit === 'tail-probe'),
  );
  has('a retransmission timeout', w.packets.some((p) => p.retransmit === 'timeout') && w.statsA.timeouts > 0);
  has(
    "A's FIN",
    w.packets.some((p) => p.from === 'A' && p.type === 'FIN' && p.arrivedMs !== undefined),
  );
  has(
    "B's FIN",
    w.packets.some((p) => p.from === 'B' && p.type === 'FIN' && p.arrivedMs !== undefined),
  );
  has(
    'both sides closed cleanly',
    w.states.some((s) => s.side === 'A' && s.state === 'closed') &&
      w.states.some((s) => s.side === 'B' && s.state === 'closed'),
  );
  if (missing.length > 0) {
    throw new Error(
      `the walkthrough session in scripts/docs/walkthrough.ts no longer shows ${missing.join(', ')}: ` +
        'adjust WALK (or the page) so docs/protocol.md still explains a real session',
    );
  }
}
