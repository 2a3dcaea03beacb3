/**
 * A FIN that overtakes the data before it, deterministically: the first and the third data packets
 * of a burst are held back on the link (delayNth, the third longer), so the rest of the burst and the
 * FIN arrive first and wait in the reorder buffer, and then the first arrives while the third is
 * still missing. The stream must end only once every packet before the FIN is in, with every byte in
 * order — and the sequence numbers wrap right at the FIN (its seq_nr is 0, or 65535), in both
 * directions. Every case runs on five seeds, and on each the FIN is checked to have overtaken.
 *
 * Re-run one seed: SIM_SEED=<seed> npx vitest run test/sim/fin-order.test.ts
 */
import { describe, expect, it } from 'vitest';
import type { Connection, ConnectionTraceRecord } from '../../src/machines/connection.js';
import { SimNetwork } from '../../src/sim/network.js';
import { seqAdd } from '../../src/wire/seq.js';
import { brief, createPeer, Sink, sha256, simSeed, withSeed } from './helpers.js';

const FILE = 'test/sim/fin-order.test.ts';
const ONE_WAY_US = 10_000;
/** Held back this much more (the third packet twice as long): they arrive after the FIN. */
const HOLD_US = 30_000;
const PAYLOAD = 980;
/** Data packets in the burst; the FIN follows them. */
const PACKETS = 6;
const SEEDS = [0, 1, 2, 3, 4].map((k) => 6100 + k);

interface Case {
  name: string;
  sender: 'initiator' | 'acceptor';
  /** The FIN's seq_nr. */
  fin: number;
}

const CASES: Case[] = [
  { name: "the initiator's FIN at seq 0", sender: 'initiator', fin: 0 },
  { name: "the initiator's FIN at seq 65535", sender: 'initiator', fin: 65_535 },
  { name: "the acceptor's FIN at seq 0", sender: 'acceptor', fin: 0 },
  { name: "the acceptor's FIN at seq 65535", sender: 'acceptor', fin: 65_535 },
];

function finOvertakesData(seed: number, c: Case): void {
  const net = new SimNetwork({ seed });
  net.setPath('a', 'b', { delayUs: ONE_WAY_US });
  const connection = {
    packetSize: 1000,
    mtuFloor: 1000,
    mtuCeiling: 1000,
    // The whole burst leaves at once.
    ledbat: { initialCwnd: 20 * PAYLOAD },
  };
  // An initiator's data starts one past its SYN's seq_nr (and its first packet is a 1-byte greeting),
  // an acceptor's at its SYN-ACK's: pick the initial seq_nr that puts the FIN (after the burst) at c.fin.
  const senderInitial = seqAdd(c.fin, c.sender === 'initiator' ? -(PACKETS + 2) : -PACKETS);
  const inAtReceiver: ConnectionTraceRecord[] = [];
  const receiverTrace = (r: ConnectionTraceRecord) => {
    if (r.kind === 'state' || r.dir === 'in') inAtReceiver.push(r);
  };
  const a = createPeer(net, 'a', 1000, {
    connection,
    forced16: c.sender === 'initiator' ? [4321, senderInitial] : [4321, 1234],
    ...(c.sender === 'acceptor' ? { trace: receiverTrace } : {}),
  });
  const b = createPeer(net, 'b', 2000, {
    connection,
    forced16: c.sender === 'acceptor' ? [senderInitial] : [4321],
    ...(c.sender === 'initiator' ? { trace: receiverTrace } : {}),
  });
  let server: Connection | undefined;
  b.endpoint.onConnection = (conn) => {
    server = conn;
  };
  const client = a.endpoint.connect(2000, 'b');
  // The initiator says something so the acceptor is connected (and may send data).
  client.events.onConnect = () => client.write(new Uint8Array([0x2a]));
  net.run({ until: () => client.connected && server?.connected === true, maxTimeUs: 5_000_000 });
  net.run({ maxTimeUs: 100_000 }); // the byte is delivered and acked: the links are quiet
  const peer = server as Connection;
  const [sender, receiver] = c.sender === 'initiator' ? [client, peer] : [peer, client];
  const [from, to] = c.sender === 'initiator' ? ['a', 'b'] : ['b', 'a'];
  const sink = new Sink();
  receiver.events.onData = (p) => sink.add(p);
  let bytesAtEnd = -1;
  receiver.events.onEnd = () => {
    sink.ended = true;
    bytesAtEnd = sink.bytes;
    receiver.end();
  };
  // Datagrams on this link are counted afresh from here: the burst's first and third are held back.
  net.setLink(from, to, {
    delayUs: ONE_WAY_US,
    delayNth: [
      [1, HOLD_US],
      [3, 2 * HOLD_US],
    ],
  });
  const data = net.prng.bytes(PACKETS * PAYLOAD);
  const firstSeq = sender.core.nextSeqNr;
  sender.write(data);
  sender.end();
  const r = net.run({ until: () => client.closed && peer.closed, maxTimeUs: 30_000_000 });
  const summary = `${r.reason}\n  sender   ${brief(sender)}\n  receiver ${brief(receiver)}`;

  // The numbering the case asked for: the FIN at c.fin, the data right before it, across the wrap.
  expect(sender.core.finSeq, summary).toBe(c.fin);
  expect(seqAdd(firstSeq, PACKETS), summary).toBe(c.fin);
  expect(receiver.core.eofSeq, summary).toBe(c.fin);
  // The FIN overtook the data: it arrived (and FIN_RECEIVED was taken) while the first packet was missing.
  const arrivals = inAtReceiver.filter((x) => x.kind === 'packet' && (x.type === 'DATA' || x.type === 'FIN'));
  const finAt = arrivals.findIndex((x) => x.kind === 'packet' && x.type === 'FIN');
  const firstDataAt = arrivals.findIndex((x) => x.kind === 'packet' && x.seqNr === firstSeq);
  expect(finAt, summary).toBeGreaterThanOrEqual(0);
  expect(finAt, `the FIN arrived before the first data packet\n${summary}`).toBeLessThan(firstDataAt);
  const states = inAtReceiver.flatMap((x) => (x.kind === 'state' ? [JSON.stringify(x.value)] : []));
  expect(
    states.some((v) => v.includes('"receive":"finReceived"')),
    `the receiver waited in finReceived\n${summary}`,
  ).toBe(true);
  expect(receiver.core.stats().outOfOrder, summary).toBeGreaterThanOrEqual(PACKETS - 3 + 1);
  // Every byte, in order, then the end; both sides close cleanly without a timeout.
  expect(sink.bytes, summary).toBe(data.length);
  expect(sink.digest(), summary).toBe(sha256(data));
  expect(sink.ended, summary).toBe(true);
  expect(bytesAtEnd, `the end came after the last byte, not before\n${summary}`).toBe(data.length);
  expect(sender.outcome, summary).toBe('closed');
  expect(receiver.outcome, summary).toBe('closed');
  expect(sender.core.stats().timeouts, summary).toBe(0);
}

describe('a FIN that overtakes its data, with the seq_nr wrapping at the FIN', () => {
  for (const c of CASES) {
    for (const s of SEEDS) {
      const seed = simSeed(s);
      it(`${c.name}: data packets 1 and 3 of ${PACKETS} held back (seed ${seed})`, () => {
        withSeed(seed, FILE, () => finOvertakesData(seed, c));
      });
    }
  }
});
