/**
 * Integrity under loss: 16 MiB each way at once over a path that loses, reorders, duplicates and
 * jitters datagrams, with both initial sequence numbers pinned just below 65535 so both seq_nr
 * spaces wrap. Every byte must arrive exactly once, in order, and both sides must close cleanly.
 *
 * Re-run one case with its seed: SIM_SEED=<seed> npx vitest run test/sim/integrity.test.ts -t '<loss>'
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Connection, ConnectionConfig } from '../../src/machines/connection.js';
import { SimNetwork } from '../../src/sim/network.js';
import { brief, createPeer, pump, Sink, sha256, simSeed, withSeed } from './helpers.js';

const FILE = 'test/sim/integrity.test.ts';
const SIZE = 16 << 20;
const CHUNK = 64 << 10;
// First seq_nr of each side; ~12 k packets per direction cross 65535 → 0 soon after the start.
const INITIATOR_SYN_SEQ = 65_533;
const ACCEPTOR_INITIAL_SEQ = 65_400;

interface Case {
  loss: number;
  seed: number;
  /** Lifecycle and retransmission settings for this case only. */
  connection?: ConnectionConfig;
}

const CASES: Case[] = [
  { loss: 0, seed: 1001 },
  { loss: 0.01, seed: 1002 },
  { loss: 0.05, seed: 1003 },
  { loss: 0.1, seed: 1004 },
  {
    loss: 0.3,
    seed: 1005,
    // At 30 % loss each way a round trip fails 1 − 0.7² = 51 % of the time, so libutp's limit of 4
    // consecutive timeouts (and 3 SYN retries) would end the connection by chance, not by a bug:
    // 0.51⁵ ≈ 3.5 % per loss episode. 30 timeouts in a row is 0.51³⁰ ≈ 2e-9. The SYN budget is
    // raised for the same reason (4 SYNs all failing is 0.51⁴ ≈ 7 %).
    connection: { maxRetransmits: 30, synRetries: 30, connectTimeoutMs: 600_000 },
  },
];

let cpuUs = 0;
let bytesMoved = 0;
let virtualUs = 0;

afterAll(() => {
  if (cpuUs > 0) {
    console.log(
      `integrity: ${(bytesMoved / 2 ** 20).toFixed(0)} MiB delivered in ${(cpuUs / 1e6).toFixed(2)} CPU-s ` +
        `(${(virtualUs / 1e6).toFixed(0)} virtual s) = ${(bytesMoved / 2 ** 20 / (cpuUs / 1e6)).toFixed(1)} MiB per CPU-second`,
    );
  }
});

describe('integrity: 16 MiB each way at once, byte-identical, seq_nr wrap crossed', () => {
  for (const c of CASES) {
    const seed = simSeed(c.seed);
    it(`${c.loss * 100} % loss each way, reordering, duplication, jitter (seed ${seed})`, () => {
      withSeed(seed, FILE, () => transferBothWays(seed, c));
    });
  }
});

function transferBothWays(seed: number, c: Case): void {
  const net = new SimNetwork({ seed });
  net.setPath('a', 'b', {
    delayUs: 10_000,
    jitterUs: 3_000,
    loss: c.loss,
    duplicate: 0.01,
    reorder: 0.02,
    reorderDelayUs: 15_000,
    bandwidthBps: 100e6,
    queueBytes: 1 << 20,
  });
  const connection = c.connection ?? {};
  const a = createPeer(net, 'a', 1000, { connection, forced16: [4242, INITIATOR_SYN_SEQ] });
  const b = createPeer(net, 'b', 2000, { connection, forced16: [ACCEPTOR_INITIAL_SEQ] });
  const dataA = net.prng.bytes(SIZE);
  const dataB = net.prng.bytes(SIZE);
  const atA = new Sink();
  const atB = new Sink();

  let server: Connection | undefined;
  let acceptorFirstSeq = -1;
  b.endpoint.onConnection = (conn) => {
    server = conn;
    acceptorFirstSeq = conn.core.nextSeqNr;
    conn.events = {
      onData: (p) => atB.add(p),
      onEnd: () => {
        atB.ended = true;
      },
      // The acceptor writes once it has heard from the initiator: a half-open connection is dropped
      // at its first retransmission timeout (libutp), which at 30 % loss would be a coin toss.
      onConnect: () => {
        pump(conn, dataB, CHUNK, true);
      },
    };
  };
  const client = a.endpoint.connect(2000, 'b');
  client.events = {
    onData: (p) => atA.add(p),
    onEnd: () => {
      atA.ended = true;
    },
  };
  pump(client, dataA, CHUNK, true);

  const cpu0 = process.cpuUsage();
  const t0 = net.now();
  const r = net.run({ until: () => client.closed && server?.closed === true, maxTimeUs: 24 * 3600e6 });
  const cpu = process.cpuUsage(cpu0);
  cpuUs += cpu.user + cpu.system;
  bytesMoved += atA.bytes + atB.bytes;
  virtualUs += net.now() - t0;

  const fwd = net.linkStats('a', 'b');
  const rev = net.linkStats('b', 'a');
  const summary =
    `loss ${c.loss}: ${r.reason} after ${((net.now() - t0) / 1e6).toFixed(1)} virtual s, ` +
    `${((cpu.user + cpu.system) / 1e3).toFixed(0)} ms CPU\n` +
    `  a→b ${JSON.stringify(fwd)}\n  b→a ${JSON.stringify(rev)}\n` +
    `  initiator ${brief(client)}\n  acceptor  ${brief(server)}`;
  console.log(summary);

  expect(r.reason, summary).toBe('done');
  expect(client.outcome, summary).toBe('closed');
  expect(server?.outcome, summary).toBe('closed');
  expect(atB.bytes, summary).toBe(SIZE);
  expect(atA.bytes, summary).toBe(SIZE);
  expect(atB.digest(), 'a→b payload differs').toBe(sha256(dataA));
  expect(atA.digest(), 'b→a payload differs').toBe(sha256(dataB));
  expect(atA.ended && atB.ended).toBe(true);

  // The impairments were really there.
  if (c.loss > 0) expect(fwd.lost + rev.lost).toBeGreaterThan(0);
  // …and losses were repaired by fast retransmit (duplicate acks, SACK, a tail probe's evidence), not
  // only by timeouts: each side sent 16 MiB into the loss.
  if (c.loss > 0) {
    expect(client.core.stats().fastRetransmits, summary).toBeGreaterThan(0);
    expect(server?.core.stats().fastRetransmits, summary).toBeGreaterThan(0);
  }
  expect(fwd.duplicated + rev.duplicated).toBeGreaterThan(0);
  expect(fwd.reordered + rev.reordered).toBeGreaterThan(0);

  // Both seq_nr spaces wrapped: each side started just below 65536 and ended past 0.
  expect(client.core.synSeqNr).toBe(INITIATOR_SYN_SEQ);
  expect(acceptorFirstSeq).toBe(ACCEPTOR_INITIAL_SEQ);
  const usedA = (client.core.nextSeqNr - INITIATOR_SYN_SEQ) & 0xffff;
  const usedB = (server!.core.nextSeqNr - ACCEPTOR_INITIAL_SEQ) & 0xffff;
  expect(usedA).toBeGreaterThan(0x10000 - INITIATOR_SYN_SEQ);
  expect(usedB).toBeGreaterThan(0x10000 - ACCEPTOR_INITIAL_SEQ);
  expect(client.core.nextSeqNr).toBeLessThan(INITIATOR_SYN_SEQ);
  expect(server!.core.nextSeqNr).toBeLessThan(ACCEPTOR_INITIAL_SEQ);
  // …and each receiver's ack_nr followed across the wrap up to the other's FIN.
  expect(server!.core.ackNr).toBe(client.core.finSeq);
  expect(client.core.ackNr).toBe(server!.core.finSeq);
}
