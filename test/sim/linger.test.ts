import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/machines/connection.js';
import { SimNetwork } from '../../src/sim/network.js';
import { createSimEndpoint } from '../../src/sim/utp.js';
import { encode } from '../../src/wire/codec.js';
import { ST_DATA, ST_FIN, ST_RESET, ST_STATE } from '../../src/wire/constants.js';
import { seqAdd } from '../../src/wire/seq.js';
import { packetType } from './helpers.js';

const SEED = 9101;

/** A closed (or destroyed) connection on `a`, and a raw socket on `b` to play its vanished peer. */
function setup(destroy: boolean) {
  const net = new SimNetwork({ seed: SEED });
  net.setPath('a', 'b', { delayUs: 5_000 });
  const a = createSimEndpoint(net, 'a', 1000);
  const b = createSimEndpoint(net, 'b', 2000);
  let accepted: Connection | undefined;
  b.endpoint.onConnection = (c) => {
    accepted = c;
    c.events = { onEnd: () => c.end() };
  };
  const c = a.endpoint.connect(2000, 'b');
  c.write(new Uint8Array(100));
  if (destroy) {
    net.run({ until: () => accepted !== undefined && c.core.allAcked });
    c.destroy();
  } else {
    c.end();
  }
  net.run({ until: () => c.closed && accepted?.closed === true });
  const peer = accepted as Connection;
  const ids = { sendId: peer.sendId, seq: peer.core.nextSeqNr, ack: peer.core.ackNr };
  b.close();
  const raw = net.bind('b', 2000);
  const got: number[] = [];
  const seqs: number[] = [];
  raw.onMessage((buf) => {
    got.push(packetType(buf));
    seqs.push(((buf[16] ?? 0) << 8) | (buf[17] ?? 0));
  });
  const send = (type: 0 | 1 | 2, seqNr: number) => {
    const p = encode({ type, connectionId: ids.sendId, seqNr, ackNr: ids.ack, windowSize: 65535 });
    raw.send(p, 0, p.length, 1000, 'a');
    net.run({ maxTimeUs: 50_000 });
  };
  return { net, a, c, got, seqs, send, ids, peer };
}

describe('endpoint lingering after a connection ends', () => {
  it(`re-acks a late FIN of a cleanly closed connection, and never answers a STATE (seed ${SEED})`, () => {
    const { c, got, seqs, send, ids, a, net } = setup(false);
    expect(c.outcome).toBe('closed');
    send(ST_FIN, seqAdd(ids.seq, -1));
    // The ack twice, as every ack after both FINs: seq_nr past our FIN and at it (libutp / libtorrent).
    expect(got).toEqual([ST_STATE, ST_STATE]);
    expect(seqs).toEqual([seqAdd(c.core.finSeq, 1), c.core.finSeq]);
    send(ST_STATE, ids.seq);
    expect(got).toEqual([ST_STATE, ST_STATE]); // no ping-pong with a peer that lingers too
    expect(a.endpoint.stats.lingerAcks).toBe(1);
    // After the linger time (TCP's TIME_WAIT, 60 s) the ids are forgotten: a stray packet gets a RST.
    net.timers.schedule(net.now() + 61_000_000, () => {}); // a quiet network does not move the clock
    net.run({ maxTimeUs: 61_000_000 });
    send(ST_DATA, ids.seq);
    expect(got).toEqual([ST_STATE, ST_STATE, ST_RESET]);
  });

  it(`a plain destroy() acks the peer's FIN after what was delivered: the peer closes cleanly (seed ${SEED})`, () => {
    const { c, got, send, ids, a, peer } = setup(true);
    expect(c.outcome).toBe('destroyed');
    // The peer answered our FIN with its own, which the linger record acked.
    expect(peer.outcome).toBe('closed');
    expect(a.endpoint.stats.lingerAcks).toBe(1);
    // A retransmission of that FIN (its ack lost) is acked again.
    send(ST_FIN, seqAdd(ids.seq, -1));
    expect(got).toEqual([ST_STATE]);
  });

  it(`a plain destroy() answers data the application never read with a RST (seed ${SEED})`, () => {
    const { c, got, send, ids } = setup(true);
    expect(c.outcome).toBe('destroyed');
    send(ST_DATA, ids.seq);
    expect(got).toEqual([ST_RESET]);
    // Forgotten after that: no ack for a FIN either (and at most one RST per 2 s).
    send(ST_FIN, seqAdd(ids.seq, 1));
    expect(got).toEqual([ST_RESET]);
  });
});
