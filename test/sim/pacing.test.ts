/**
 * Pacing (src/core/pacer.ts) as whole connections see it, in virtual time: the same transfer with
 * `pacing` on and off. A window sent at once into a small bottleneck queue overflows it; paced, the
 * queue holds. Over paths whose queue never overflows, pacing costs no time; over a path whose RTT is
 * a fraction of the timer granularity (loopback), and in slow start, it is never on at all.
 *
 * Re-run with another seed: SIM_SEED=<seed> npx vitest run test/sim/pacing.test.ts
 */
import { describe, expect, it } from 'vitest';
import type { Connection, ConnectionConfig } from '../../src/machines/connection.js';
import { type LinkOptions, SimNetwork } from '../../src/sim/network.js';
import { brief, createPeer, pump, Sink, sha256, simSeed, withSeed } from './helpers.js';

const FILE = 'test/sim/pacing.test.ts';
const SEC = 1_000_000;
/** 50 Mbit/s, 40 ms RTT (a BDP of 250 kB), and a bottleneck queue of 30 kB: 20 packets, 4.8 ms. */
const SMALL_QUEUE: LinkOptions = { delayUs: 20_000, jitterUs: 500, bandwidthBps: 50e6, queueBytes: 30_000 };
/** 1,452-byte payloads throughout: no MTU probe among the measured packets. */
const FIXED_SIZE: ConnectionConfig = { mtuFloor: 1472, mtuCeiling: 1472, packetSize: 1472 };

interface Outcome {
  /** Virtual µs from the first write to the last byte delivered, per write. */
  times: number[];
  intact: boolean;
  /** Datagrams the sender's bottleneck queue dropped. */
  dropped: number;
  /** Of those, the ones dropped after the first write (whose slow start is never paced). */
  droppedAfterFirst: number;
  sender: Connection;
  summary: string;
}

/**
 * `a` connects to `b` over `path` (the ack path has the same delay and jitter, no bottleneck),
 * then writes `rounds` chunks of `chunk` bytes, each once the previous one has arrived whole and
 * `idleUs` more have passed.
 */
function transfer(
  seed: number,
  path: LinkOptions,
  config: ConnectionConfig,
  chunk: number,
  rounds = 1,
  idleUs = 0,
): Outcome {
  const net = new SimNetwork({ seed });
  net.setLink('a', 'b', path);
  net.setLink('b', 'a', { delayUs: path.delayUs ?? 0, jitterUs: path.jitterUs ?? 0 });
  const a = createPeer(net, 'a', 1000, { connection: config });
  const b = createPeer(net, 'b', 2000, { connection: config });
  const sink = new Sink();
  b.endpoint.onConnection = (conn) => {
    conn.events = { onData: (d) => sink.add(d) };
  };
  const data = net.prng.bytes(chunk * rounds);
  const sender = a.endpoint.connect(2000, 'b', config);
  expect(net.run({ until: () => sender.connected, maxTimeUs: 5 * SEC }).reason).toBe('done');
  const times: number[] = [];
  let droppedInFirst = 0;
  for (let i = 0; i < rounds; i++) {
    const t0 = net.now();
    pump(sender, data.subarray(i * chunk, (i + 1) * chunk), 64 << 10, false);
    const want = (i + 1) * chunk;
    const r = net.run({ until: () => sink.bytes >= want, maxTimeUs: 60 * SEC });
    expect(r.reason, `round ${i}: ${brief(sender)}`).toBe('done');
    times.push(net.now() - t0);
    if (i === 0) droppedInFirst = net.linkStats('a', 'b').droppedQueue;
    if (idleUs > 0) net.run({ maxTimeUs: idleUs });
  }
  const dropped = net.linkStats('a', 'b').droppedQueue;
  const s = sender.core.stats();
  const summary =
    `pacing ${config.pacing !== false ? 'on' : 'off'}: ${times.map((t) => (t / 1000).toFixed(0)).join(', ')} ms, ` +
    `dropped ${dropped} (${dropped - droppedInFirst} after the first write), paced waits ${s.pacedWaits}, ${brief(sender)}`;
  return {
    times,
    intact: sink.bytes === data.length && sink.digest() === sha256(data),
    dropped,
    droppedAfterFirst: dropped - droppedInFirst,
    sender,
    summary,
  };
}

const total = (o: Outcome) => o.times.reduce((s, t) => s + t, 0);

describe('pacing into a small bottleneck queue', () => {
  for (const seed of [simSeed(9101), simSeed(9102), simSeed(9103)]) {
    it(`a 200 kB window (no slow start) into a 30 kB queue: paced, no overflow; sent at once, most of it dropped (seed ${seed})`, () => {
      withSeed(seed, FILE, () => {
        const config = { ...FIXED_SIZE, ledbat: { initialCwnd: 200_000, slowStart: false } };
        const paced = transfer(seed, SMALL_QUEUE, config, 2 << 20);
        const burst = transfer(seed, SMALL_QUEUE, { ...config, pacing: false }, 2 << 20);
        const why = `\n  ${paced.summary}\n  ${burst.summary}`;
        expect(paced.intact, why).toBe(true);
        expect(burst.intact, why).toBe(true);
        // The scenario bites: the first window alone overflows the queue by ~100 packets.
        expect(burst.dropped, why).toBeGreaterThanOrEqual(100);
        expect(paced.dropped, why).toBeLessThanOrEqual(burst.dropped / 10);
        expect(paced.sender.stats().pacedWaits, why).toBeGreaterThan(0);
        expect(burst.sender.stats().pacedWaits, why).toBe(0);
        expect(burst.sender.stats().pacingRate, why).toBe(0);
        // Repairing those losses costs the unpaced sender time, too.
        expect(total(paced), why).toBeLessThan(total(burst));
      });
    });
  }

  const seed = simSeed(9111);
  it(`a window left open by idle spells: eight 256 KiB writes 2 s apart lose far fewer packets paced (seed ${seed})`, () => {
    withSeed(seed, FILE, () => {
      const paced = transfer(seed, SMALL_QUEUE, {}, 256 << 10, 8, 2 * SEC);
      const burst = transfer(seed, SMALL_QUEUE, { pacing: false }, 256 << 10, 8, 2 * SEC);
      const why = `\n  ${paced.summary}\n  ${burst.summary}`;
      expect(paced.intact, why).toBe(true);
      expect(burst.intact, why).toBe(true);
      // The first write's slow start is not paced (either way ~20 drops); the windows the idle spells
      // leave open are. Seeds 401–420: after the first write, paced 0 drops, unpaced 44–78.
      expect(burst.droppedAfterFirst, why).toBeGreaterThanOrEqual(30);
      expect(paced.droppedAfterFirst, why).toBeLessThanOrEqual(burst.droppedAfterFirst / 10);
      expect(paced.dropped, why).toBeLessThan(burst.dropped / 2);
      expect(total(paced), why).toBeLessThan(total(burst));
    });
  });
});

describe('pacing where the queue never overflows', () => {
  const paths: Array<[string, LinkOptions, number]> = [
    ['50 Mbit/s, 40 ms RTT, 4 MiB queue', { delayUs: 20_000, bandwidthBps: 50e6, queueBytes: 4 << 20 }, 8 << 20],
    [
      '20 Mbit/s, 100 ms RTT, 2 ms jitter, 4 MiB queue',
      { delayUs: 50_000, jitterUs: 2000, bandwidthBps: 20e6, queueBytes: 4 << 20 },
      4 << 20,
    ],
    ['10 Mbit/s, 20 ms RTT, 1 MiB queue', { delayUs: 10_000, bandwidthBps: 10e6, queueBytes: 1 << 20 }, 4 << 20],
    [
      '50 Mbit/s, 20 ms RTT, 1 ms jitter, 2 MiB queue',
      { delayUs: 10_000, jitterUs: 1000, bandwidthBps: 50e6, queueBytes: 2 << 20 },
      8 << 20,
    ],
  ];
  paths.forEach(([name, path, bytes], i) => {
    const seed = simSeed(9201 + i);
    if (!path.jitterUs) {
      it(`${name}: a ${bytes >> 20} MiB transfer takes no more than 3 % longer paced (seed ${seed})`, () => {
        withSeed(seed, FILE, () => {
          const paced = transfer(seed, path, {}, bytes);
          const burst = transfer(seed, path, { pacing: false }, bytes);
          const why = `\n  ${paced.summary}\n  ${burst.summary}`;
          expect(paced.intact, why).toBe(true);
          expect(burst.intact, why).toBe(true);
          expect(paced.dropped, why).toBe(0);
          expect(total(paced), why).toBeLessThanOrEqual(total(burst) * 1.03);
          // It was on (after slow start): this is not the same run twice.
          expect(paced.sender.stats().pacedWaits, why).toBeGreaterThan(0);
        });
      });
      return;
    }
    // With jitter, reordering (and the fast retransmits it may cause) lands at different moments in
    // the two runs, so one seed proves little either way: over seeds 401–560 of the 2 ms path the
    // paced/unpaced time ratio had median 0.99, 90th percentile 1.01, and two outliers, 1.06 and 1.27
    // (seed 471: two more spurious fast retransmits in the paced run). So: five seeds, the median
    // within 3 %, none more than 35 % slower.
    it(`${name}: a ${bytes >> 20} MiB transfer paced takes no longer at the median of 5 seeds (from ${seed})`, () => {
      withSeed(seed, FILE, () => {
        const ratios: number[] = [];
        const whys: string[] = [];
        for (let k = 0; k < 5; k++) {
          const paced = transfer(seed + k, path, {}, bytes);
          const burst = transfer(seed + k, path, { pacing: false }, bytes);
          const why = `\n  seed ${seed + k}: ${paced.summary}\n  ${burst.summary}`;
          whys.push(why);
          expect(paced.intact, why).toBe(true);
          expect(burst.intact, why).toBe(true);
          expect(paced.dropped, why).toBe(0);
          expect(paced.sender.stats().pacedWaits, why).toBeGreaterThan(0);
          ratios.push(total(paced) / total(burst));
        }
        const sorted = [...ratios].sort((x, y) => x - y);
        const all = `ratios ${ratios.map((r) => r.toFixed(3)).join(', ')}${whys.join('')}`;
        expect(sorted[2], all).toBeLessThanOrEqual(1.03);
        expect(sorted[4], all).toBeLessThanOrEqual(1.35);
      });
    });
  });
});

/** The same transfer with and without pacing, where pacing must not act: identical, packet for packet. */
function expectUnpaced(seed: number, path: LinkOptions, bytes: number): void {
  const paced = transfer(seed, path, {}, bytes);
  const plain = transfer(seed, path, { pacing: false }, bytes);
  const why = `\n  ${paced.summary}\n  ${plain.summary}`;
  expect(paced.intact, why).toBe(true);
  const s = paced.sender.stats();
  expect(s.pacedWaits, why).toBe(0);
  expect(s.pacingRate, why).toBe(0);
  const p = plain.sender.stats();
  expect(paced.times, why).toEqual(plain.times);
  expect([s.packetsSent, s.bytesSent, s.retransmits], why).toEqual([p.packetsSent, p.bytesSent, p.retransmits]);
}

describe('where pacing stays off', () => {
  for (const [name, path] of [
    ['100 µs RTT (loopback)', { delayUs: 50 }],
    ['1 ms RTT, 0–200 µs jitter', { delayUs: 500, jitterUs: 200 }],
  ] as Array<[string, LinkOptions]>) {
    const seed = simSeed(9301);
    it(`${name}, below the timer granularity: never on, the transfer packet for packet the same (seed ${seed})`, () => {
      withSeed(seed, FILE, () => expectUnpaced(seed, path, 16 << 20));
    });
  }

  const seed = simSeed(9311);
  it(`slow start: a transfer that never leaves it (no bottleneck, 20 ms RTT) is packet for packet the same (seed ${seed})`, () => {
    withSeed(seed, FILE, () => expectUnpaced(seed, { delayUs: 10_000 }, 8 << 20));
  });
});
