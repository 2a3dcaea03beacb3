/**
 * The protocol core alone: bytes in, datagrams and facts out. No endpoint, no statechart, no
 * clock but the `now` each call is given — the core's whole contract.
 */
import { describe, expect, it } from 'vitest';
import { ConnectionCore, type ConnectionHooks, type CoreEvent } from '../../../src/core/connection.js';
import { createLayout, decode, type Packet, scanPacket } from '../../../src/wire/codec.js';
import { EXT_BITS, ST_DATA, ST_FIN, ST_STATE, ST_SYN } from '../../../src/wire/constants.js';
import { seqAdd } from '../../../src/wire/seq.js';

/** A core whose output is collected: datagrams (copied), delivered bytes. */
function core(role: 'initiator' | 'acceptor', opts = {}) {
  const out: Uint8Array[] = [];
  const delivered: Uint8Array[] = [];
  const hooks: ConnectionHooks = {
    transmit: (buf, length) => {
      out.push(buf.slice(0, length));
    },
    deliver: (p) => delivered.push(p.slice()),
    writable: () => {},
    unreadBytes: () => 0,
    needFlush: () => {},
  };
  const c = new ConnectionCore(role, hooks, { packetSize: 1000, mtuCeiling: 1000, ...opts });
  return { c, out, delivered };
}

type Side = ReturnType<typeof core>;

/** Hands every datagram `from` sent so far to `to` (except those `drop` names), returning them decoded. */
function pass(from: Side, to: Side, now: number, drop: (p: Packet, i: number) => boolean = () => false): Packet[] {
  const sent = from.out.splice(0);
  const layout = createLayout();
  const packets: Packet[] = [];
  sent.forEach((buf, i) => {
    const r = decode(buf);
    if (!r.ok) throw new Error(r.error.message);
    packets.push(r.packet);
    if (drop(r.packet, i)) return;
    if (r.packet.type === ST_SYN && to.c.phase === 'idle') to.c.acceptSyn(now, buf, 7000);
    else {
      expect(scanPacket(buf, layout)).toBeNull();
      to.c.handlePacket(buf, layout, now);
    }
  });
  return packets;
}

const facts = (s: Side): string[] => s.c.facts.splice(0).map((f: CoreEvent) => f.type);

/**
 * Both sides flush and exchange what they sent, 1 ms per hop, until neither sends anything;
 * returns every packet a sent (as b saw them, dropped ones included).
 */
function converse(a: Side, b: Side, start: number, drop: (p: Packet) => boolean = () => false): Packet[] {
  const fromA: Packet[] = [];
  let now = start;
  for (let round = 0; round < 200; round++) {
    a.c.flush(now);
    const ab = pass(a, b, (now += 1000), drop);
    b.c.flush(now);
    const ba = pass(b, a, (now += 1000));
    fromA.push(...ab);
    if (ab.length === 0 && ba.length === 0) break;
  }
  return fromA;
}

function connected(): { a: Side; b: Side } {
  const a = core('initiator');
  const b = core('acceptor');
  a.c.assignIds(400);
  a.c.sendSyn(1000, 100);
  const [syn] = pass(a, b, 2000);
  expect(syn).toMatchObject({ type: ST_SYN, connectionId: 400, seqNr: 100 });
  // The SYN carries our extension bits (large datagrams).
  expect(syn?.extensions.map((e) => e.type)).toEqual([EXT_BITS]);
  const [synAck] = pass(b, a, 3000);
  expect(synAck).toMatchObject({ type: ST_STATE, connectionId: 400, seqNr: 7000, ackNr: 100 });
  expect(facts(a)).toEqual(['SYN_ACKED']);
  a.c.flush(3000); // the initiator acks the SYN-ACK at once
  const [ackOfSynAck] = pass(a, b, 4000);
  expect(ackOfSynAck).toMatchObject({ type: ST_STATE, connectionId: 401, seqNr: 101, ackNr: 6999 });
  expect(facts(b)).toEqual(['PEER_ACKED']);
  return { a, b };
}

describe('ConnectionCore, bytes in and datagrams out', () => {
  it('handshake: ids, seq numbers and facts as BEP 29 and libutp number them', () => {
    const { a, b } = connected();
    expect(a.c.phase).toBe('open');
    expect(b.c.phase).toBe('open');
    expect(a.c.ackNr).toBe(6999);
    expect(b.c.ackNr).toBe(100);
  });

  it('an acceptor sends no data before the initiator is heard from', () => {
    const a = core('initiator');
    const b = core('acceptor');
    a.c.assignIds(400);
    a.c.sendSyn(1000, 100);
    pass(a, b, 2000);
    b.c.write(new Uint8Array(3000));
    b.c.flush(2000);
    const sent = pass(b, a, 3000);
    expect(sent.map((p) => p.type)).toEqual([ST_STATE]); // the SYN-ACK only
    // The initiator's ack of the SYN-ACK opens the acceptor's stream, at the SYN-ACK's seq_nr.
    const data = converse(b, a, 3000).filter((p) => p.type === ST_DATA);
    expect(data.map((p) => p.seqNr)).toEqual([7000, 7001, 7002, 7003]);
    expect(Buffer.concat(a.delivered).length).toBe(3000);
  });

  it('data, a lost packet repaired from a SACK, then FIN: facts in order', () => {
    const { a, b } = connected();
    const data = new Uint8Array(9800).map((_, i) => i & 0xff);
    a.c.write(data);
    a.c.queueFin();
    // Lose the first transmission of the second data packet; the packets after it are SACKed.
    let lost = false;
    const sent = converse(a, b, 5000, (p) => {
      if (p.type !== ST_DATA || p.seqNr !== 102 || lost) return false;
      lost = true;
      return true;
    });
    const seqs = sent.filter((p) => p.type === ST_DATA).map((p) => p.seqNr);
    // Ten packets, 102 twice: once lost, once resent after the SACKs showed the hole.
    expect(seqs.filter((q) => q === 102)).toHaveLength(2);
    expect(new Set(seqs).size).toBe(10);
    expect(a.c.stats().fastRetransmits).toBe(1);
    expect(a.c.stats().timeouts).toBe(0);
    expect(Buffer.concat(b.delivered)).toEqual(Buffer.from(data));
    expect(facts(b)).toEqual(['FIN_RECEIVED', 'EOF_DELIVERED']);
    expect(facts(a)).toEqual(['FIN_ACKED']);
  });

  it('a stale FIN is no end of stream; the real one is', () => {
    const { a, b } = connected();
    a.c.write(new Uint8Array(10));
    a.c.flush(5000);
    pass(a, b, 6000);
    const fin = (seq: number) => {
      const buf = new Uint8Array(20);
      buf.set([(ST_FIN << 4) | 1, 0, 0x01, 0x91]); // connection id 401
      buf[16] = seq >> 8;
      buf[17] = seq & 0xff;
      buf[18] = 0x1b;
      buf[19] = 0x57; // ack_nr 6999
      const layout = createLayout();
      scanPacket(buf, layout);
      b.c.handlePacket(buf, layout, 7000);
    };
    fin(101); // already delivered
    expect(facts(b)).toEqual([]);
    fin(seqAdd(101, 1));
    expect(facts(b)).toEqual(['FIN_RECEIVED', 'EOF_DELIVERED']);
  });

  it('retransmission timeouts double, report their count, and stop past the limit', () => {
    const { a } = connected();
    a.c.write(new Uint8Array(100));
    a.c.flush(5000);
    a.out.length = 0;
    let now = 5000;
    const counts: number[] = [];
    const firedAt: number[] = [];
    for (let i = 0; i < 50 && a.c.nextDeadline() !== 0; i++) {
      now = a.c.nextDeadline();
      const before = a.c.stats().timeouts;
      a.c.handleTimeout(now);
      if (a.c.stats().timeouts > before) firedAt.push(now);
      for (const f of a.c.facts.splice(0)) if (f.type === 'RTO_FIRED') counts.push(f.count);
    }
    // Timeouts shorter than 1 s (libutp's floor) are not counted: the chart hears of 1 s and up.
    expect(counts).toEqual([1, 2, 3, 4, 5]);
    const timeouts = a.c.stats().timeouts;
    const uncounted = timeouts - 5;
    expect(uncounted).toBeGreaterThan(0);
    // Each timeout waits twice as long as the one before.
    for (let k = 2; k < firedAt.length; k++) {
      const gap = (firedAt[k] as number) - (firedAt[k - 1] as number);
      const prev = (firedAt[k - 1] as number) - (firedAt[k - 2] as number);
      expect(gap).toBeGreaterThanOrEqual(2 * prev - 1);
    }
    // Two tail probes, then a retransmission per timeout survived; nothing after the fatal one.
    expect(a.out.length).toBe(2 + timeouts - 1);
    expect(a.c.nextDeadline()).toBe(0);
  });
});

describe('ConnectionCore pacing', () => {
  const MS = 1000;
  const RTT = 100 * MS;
  /**
   * A connected pair whose handshake took 100 ms (the initiator's first RTT sample) and whose sender
   * starts with a window of 100 packets of 1,000 bytes (no slow start): a window far bigger than the
   * pacer's 4-packet burst allowance (1.25 × 100 kB / 100 ms is 2.5 kB per 2 ms).
   */
  function slowPair(pacing: boolean): { a: Side; b: Side; now: number } {
    const opts = { pacing, ledbat: { initialCwnd: 100 * 980, slowStart: false } };
    const a = core('initiator', opts);
    const b = core('acceptor', opts);
    a.c.assignIds(400);
    a.c.sendSyn(1000, 100);
    pass(a, b, 1000 + RTT / 2);
    pass(b, a, 1000 + RTT);
    expect(a.c.rtt.srttUs).toBe(RTT);
    a.c.flush(1000 + RTT);
    pass(a, b, 1000 + RTT + RTT / 2);
    facts(a);
    facts(b);
    return { a, b, now: 1000 + 2 * RTT };
  }
  const dataSeqs = (out: Uint8Array[]): number[] =>
    out.flatMap((buf) => {
      const r = decode(buf);
      return r.ok && r.packet.type === ST_DATA ? [r.packet.seqNr] : [];
    });

  it('without pacing a window goes at once; with it, the burst allowance, then a packet per pacing interval', () => {
    const off = slowPair(false);
    off.a.c.write(new Uint8Array(50 * 980));
    off.a.c.flush(off.now);
    expect(dataSeqs(off.a.out)).toHaveLength(50);
    expect(off.a.c.stats().pacingRate).toBe(0);

    const { a, now } = slowPair(true);
    a.c.write(new Uint8Array(50 * 980));
    a.c.flush(now);
    expect(dataSeqs(a.out.splice(0))).toEqual([101, 102, 103, 104]);
    // 1.25 × 98,000 bytes per 100 ms: 1.225 bytes per µs, a 980-byte packet every 800 µs; the pacer
    // wakes no sooner than a 1 ms timer can.
    expect(a.c.stats().pacingRate).toBeCloseTo(1.225e6, -2);
    expect(a.c.stats().pacedWaits).toBe(1);
    let t = now;
    const times: number[] = [];
    const seqs: number[] = [];
    while (seqs.length < 46) {
      const at = a.c.nextDeadline();
      expect(at - t).toBeGreaterThanOrEqual(MS);
      expect(at - t).toBeLessThan(2 * MS);
      t = at;
      a.c.handleTimeout(t);
      for (const s of dataSeqs(a.out.splice(0))) {
        seqs.push(s);
        times.push(t);
      }
    }
    expect(seqs).toEqual(Array.from({ length: 46 }, (_, i) => 105 + i));
    // 46 packets at 800 µs each: the rest of the 50 went out over ~37 ms, not at once.
    expect((times.at(-1) as number) - now).toBeGreaterThan(35 * MS);
    expect((times.at(-1) as number) - now).toBeLessThan(40 * MS);
  });

  it('acks and retransmissions go at once while new data waits for the pacer', () => {
    const { a, b, now } = slowPair(true);
    a.c.write(new Uint8Array(50 * 980));
    a.c.flush(now);
    // Lose the first of the four in the burst: the receiver SACKs the three after it.
    pass(a, b, now + RTT / 2, (p) => p.seqNr === 101);
    b.c.flush(now + RTT / 2);
    // Before that ack arrives, the sender spends its bucket again: the pacer holds the rest.
    const t = now + RTT;
    a.c.flush(t);
    expect(dataSeqs(a.out.splice(0))).toEqual([105, 106, 107, 108]);
    a.c.flush(t);
    expect(a.out).toHaveLength(0);
    const pacedAt = a.c.nextDeadline();
    expect(pacedAt).toBeGreaterThan(t);
    pass(b, a, t);
    expect(a.c.stats().fastRetransmits).toBe(1);
    // Same instant, no tokens: the retransmission goes, no new data does.
    a.c.flush(t);
    expect(dataSeqs(a.out.splice(0))).toEqual([101]);
    expect(a.c.stats().retransmits).toBe(1);
    // Data from the peer is acked at once with a STATE (no DATA can carry the ack: the pacer holds it).
    b.c.write(new Uint8Array(10));
    b.c.flush(t);
    pass(b, a, t);
    a.c.flush(t);
    const out = a.out.splice(0).map((buf) => decode(buf));
    expect(out.map((r) => r.ok && r.packet.type)).toEqual([ST_STATE]);
    // New data resumes at the pacing deadline.
    a.c.handleTimeout(a.c.nextDeadline());
    expect(dataSeqs(a.out.splice(0)).length).toBeGreaterThan(0);
  });
});
