/**
 * Loss detection, step by step: a utpx sender in front of a hand-driven receiver (RawPeer) that
 * acks in exactly one pattern — a run of duplicate acks, or a SACK showing packets past a hole —
 * and the exact retransmission it must cause, at once (well before the tail-loss probe at 2·SRTT
 * or the 1 s RTO could stand in for it), with LEDBAT's window halved on the loss.
 *
 * The rules (libutp, docs/design.md): three duplicate pure acks (ST_STATE repeating ack_nr) resend
 * ack_nr + 1, once; a hole with at least three packets SACKed after it is resent, whichever its
 * position. Payload 980 bytes per packet (packet size pinned at 1000), eight packets in flight.
 */
import { describe, expect, it } from 'vitest';
import { sackSet } from '../../src/core/sack.js';
import type { Connection } from '../../src/machines/connection.js';
import { SimNetwork } from '../../src/sim/network.js';
import type { Packet } from '../../src/wire/codec.js';
import { ST_DATA, ST_STATE } from '../../src/wire/constants.js';
import { seqAdd } from '../../src/wire/seq.js';
import { brief, createPeer } from './helpers.js';
import { RawPeer } from './raw-peer.js';

const PACKETS = 8;
const PAYLOAD = 980;
/** One-way delay: the round trip is 10 ms, the tail-loss probe ≥ 20 ms after the last ack. */
const ONE_WAY_US = 5_000;

interface Setup {
  net: SimNetwork;
  raw: RawPeer;
  conn: Connection;
  /** seq of the i-th data packet utpx sent. */
  s(i: number): number;
  /** Data packets the receiver got since `from` (an index into raw.received), as seqs. */
  dataSince(from: number): number[];
  /** seqs of the retransmissions utpx sent so far, in order. */
  resent: number[];
  /**
   * Sends a STATE from the raw receiver with ack_nr s(ack) and s(i) SACKed for each i in `sacked`;
   * acks follow each other 0.2 ms apart, so a run of them stays well inside 2·SRTT.
   */
  ack(ack: number, sacked?: number[]): void;
  /** A DATA packet from the receiver repeating ack_nr s(ack). */
  data(ack: number): void;
  /** Runs until everything the receiver sent has been handled by utpx (its replies are then in flight). */
  settle(): void;
}

function setup(seed: number, initialSeq: number): Setup {
  const net = new SimNetwork({ seed });
  net.setPath('a', 'b', { delayUs: ONE_WAY_US });
  // The acceptor's initial seq_nr is pinned: its stream crosses 65535 → 0 among the packets.
  const resent: number[] = [];
  const a = createPeer(net, 'a', 1000, {
    forced16: [initialSeq],
    trace: (r) => {
      if (r.kind === 'packet' && r.dir === 'out' && r.retransmit) resent.push(r.seqNr);
    },
    connection: { packetSize: 1000, mtuFloor: 1000, mtuCeiling: 1000, ledbat: { initialCwnd: 20 * PAYLOAD } },
  });
  let conn: Connection | undefined;
  a.endpoint.onConnection = (c) => {
    conn = c;
  };
  const raw = new RawPeer(net, 'b', 2000, { address: 'a', port: 1000 });
  const synAck = raw.handshake(100, 5000);
  if (conn === undefined) throw new Error('not accepted');
  const c = conn;
  // An acceptor's data starts at its SYN-ACK's seq_nr.
  const first = synAck.seqNr;
  const s = (i: number) => seqAdd(first, i);
  const dataSince = (from: number) =>
    raw.received
      .slice(from)
      .filter((p: Packet) => p.type === ST_DATA)
      .map((p) => p.seqNr);
  const ack = (n: number, sacked: number[] = []) => {
    const ackNr = s(n);
    let sack: Uint8Array | undefined;
    if (sacked.length > 0) {
      sack = new Uint8Array(4);
      for (const i of sacked) sackSet(sack, (s(i) - ackNr - 2) & 0xffff);
    }
    raw.send({ type: ST_STATE, ackNr, ...(sack ? { sack } : {}) });
    net.run({ maxTimeUs: 200 });
  };
  const data = (n: number) => {
    raw.data(new Uint8Array(10), { ackNr: s(n) });
    net.run({ maxTimeUs: 200 });
  };
  const settle = () => net.run({ maxTimeUs: ONE_WAY_US + 100 });
  return { net, raw, conn: c, s, dataSince, resent, ack, data, settle };
}

/** Writes eight packets' worth and runs until they are all at the receiver (nothing acked yet). */
function sendEight(t: Setup): void {
  t.conn.write(t.net.prng.bytes(PACKETS * PAYLOAD));
  const from = t.raw.received.length;
  t.net.run({ until: () => t.dataSince(from).length === PACKETS, maxTimeUs: 1_000_000 });
  expect(t.dataSince(from), brief(t.conn)).toEqual(Array.from({ length: PACKETS }, (_, i) => t.s(i)));
}

describe('loss detection: duplicate acks', () => {
  // Across the wrap: s(0) = 65533, s(3) = 0.
  it('the third duplicate pure ack resends ack_nr + 1 at once, once; the window is halved', () => {
    const t = setup(9101, 65_533);
    sendEight(t);
    const mark = t.raw.received.length;
    t.ack(0); // a new ack: s(0) arrived, s(1) did not
    t.ack(0); // duplicate 1
    t.ack(0); // duplicate 2
    t.settle();
    expect(t.resent, `two duplicates resend nothing\n${brief(t.conn)}`).toEqual([]);
    const cwndBefore = t.conn.core.stats().cwnd;
    t.ack(0); // duplicate 3
    t.settle();
    expect(t.resent, `the third duplicate resends s(1) at once, only it\n${brief(t.conn)}`).toEqual([t.s(1)]);
    t.settle(); // the resend reaches the receiver
    expect(t.dataSince(mark)).toEqual([t.s(1)]);
    const s = t.conn.core.stats();
    expect({ fast: s.fastRetransmits, tlp: s.tailProbes, rto: s.timeouts }).toEqual({ fast: 1, tlp: 0, rto: 0 });
    // LEDBAT's loss reaction: the window halves (this ack freed nothing, so nothing grew it first).
    expect(s.cwnd, brief(t.conn)).toBeLessThanOrEqual(cwndBefore / 2 + 1);
    // A fourth and fifth duplicate (sent before the resend arrived) do not resend it again.
    t.ack(0);
    t.ack(0);
    t.settle();
    expect(t.resent).toEqual([t.s(1)]);
    // The receiver got s(1): everything is acked, nothing more is sent.
    t.ack(PACKETS - 1);
    t.settle();
    expect(t.conn.core.allAcked).toBe(true);
  });

  it('acks that carry data are no duplicates and break a run; so does a new ack', () => {
    const t = setup(9102, 65_530);
    sendEight(t);
    t.ack(0);
    // Three DATA packets repeating ack_nr: the receiver has data of its own, nothing says s(1) is lost.
    t.data(0);
    t.data(0);
    t.data(0);
    t.ack(0); // duplicate 1
    t.ack(0); // duplicate 2
    t.data(0); // breaks the run
    t.ack(0); // duplicate 1 again
    t.ack(0); // duplicate 2
    t.ack(1); // a new ack: the run starts over
    t.ack(1); // duplicate 1
    t.ack(1); // duplicate 2
    t.settle();
    expect(t.resent, brief(t.conn)).toEqual([]);
    t.ack(1); // duplicate 3: s(2) goes again
    t.settle();
    expect(t.resent, brief(t.conn)).toEqual([t.s(2)]);
    expect(t.conn.core.stats().tailProbes).toBe(0);
  });
});

describe('loss detection: selective acks', () => {
  // Across the wrap: s(0) = 65531, s(5) = 0.
  it('a hole is resent once three packets after it are SACKed, a later hole too, each once; the window is halved', () => {
    const t = setup(9201, 65_531);
    sendEight(t);
    const mark = t.raw.received.length;
    // s(0) acked; s(1) missing; s(2), s(3) SACKed: two past the hole, not enough.
    t.ack(0, [2, 3]);
    t.settle();
    expect(t.resent, `two SACKed past the hole resend nothing\n${brief(t.conn)}`).toEqual([]);
    const cwndBefore = t.conn.core.stats().cwnd;
    // s(5) SACKed too: three past s(1), which goes again at once. s(4) has one past it: not yet.
    // (This is the first duplicate ack, far from the three the duplicate-ack rule needs.)
    t.ack(0, [2, 3, 5]);
    t.settle();
    expect(t.resent, `the SACK resends s(1) at once, only it\n${brief(t.conn)}`).toEqual([t.s(1)]);
    t.settle();
    expect(t.dataSince(mark)).toEqual([t.s(1)]);
    let s = t.conn.core.stats();
    expect({ fast: s.fastRetransmits, tlp: s.tailProbes, rto: s.timeouts }).toEqual({ fast: 1, tlp: 0, rto: 0 });
    // LEDBAT's loss reaction (the ack freed one packet, which may have grown the window a little first).
    expect(s.cwnd, brief(t.conn)).toBeLessThanOrEqual((cwndBefore + PAYLOAD) / 2 + 1);
    // s(6) and s(7) SACKed: three past s(4), a hole that is not ack_nr + 1 (no duplicate-ack rule reaches it).
    t.ack(0, [2, 3, 5, 6, 7]);
    t.settle();
    s = t.conn.core.stats();
    expect(t.resent, `the SACK resends s(4), only it\n${brief(t.conn)}`).toEqual([t.s(1), t.s(4)]);
    expect({ fast: s.fastRetransmits, tlp: s.tailProbes, rto: s.timeouts }).toEqual({ fast: 2, tlp: 0, rto: 0 });
    // The same evidence again resends nothing.
    t.ack(0, [2, 3, 5, 6, 7]);
    t.settle();
    expect(t.resent).toEqual([t.s(1), t.s(4)]);
    t.ack(PACKETS - 1);
    t.settle();
    expect(t.conn.core.allAcked).toBe(true);
  });
});
