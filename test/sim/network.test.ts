import { describe, expect, it } from 'vitest';
import { type LinkOptions, SIM_START_US, SimNetwork, type SimSocket } from '../../src/sim/network.js';
import { deriveSeed, Prng } from '../../src/sim/prng.js';

const SEED = Number(process.env.SIM_SEED ?? 20240611);

/** A datagram whose first 4 bytes are `i`, big-endian. */
function numbered(i: number, size = 100): Uint8Array {
  const b = new Uint8Array(size);
  b[0] = i >>> 24;
  b[1] = (i >>> 16) & 0xff;
  b[2] = (i >>> 8) & 0xff;
  b[3] = i & 0xff;
  return b;
}

function numberOf(b: Uint8Array): number {
  return (((b[0] as number) << 24) | ((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number)) >>> 0;
}

/** 4.5 standard deviations of a binomial proportion: fails by chance about once in 150 000 seeds. */
function binomialBound(p: number, n: number): number {
  return 4.5 * Math.sqrt((p * (1 - p)) / n);
}

interface Pair {
  net: SimNetwork;
  a: SimSocket;
  b: SimSocket;
  got: Array<{ at: number; i: number; from: string; port: number; buf: Uint8Array }>;
}

function pair(seed: number, opts: LinkOptions): Pair {
  const net = new SimNetwork({ seed });
  net.setLink('a', 'b', opts);
  const a = net.bind('a', 1000);
  const b = net.bind('b', 2000);
  const got: Pair['got'] = [];
  b.onMessage((buf, from, port) => got.push({ at: net.now(), i: numberOf(buf), from, port, buf }));
  return { net, a, b, got };
}

/** Sends datagram i at start + i * gapUs, each from a timer. */
function sendEvery(p: Pair, count: number, gapUs: number, size = 100): void {
  const start = p.net.now();
  for (let i = 0; i < count; i++) {
    p.net.timers.schedule(start + i * gapUs, () => p.a.send(numbered(i, size), 0, size, 2000, 'b'));
  }
}

function trace(seed: number): string[] {
  const p = pair(seed, { delayUs: 5000, jitterUs: 3000, loss: 0.2, duplicate: 0.05, reorder: 0.05 });
  sendEvery(p, 2000, 500);
  p.net.run({});
  return p.got.map((g) => `${g.at}:${g.i}`);
}

describe('Prng', () => {
  it(`is reproducible from its seed and stays in range (seed ${SEED})`, () => {
    const x = new Prng(SEED);
    const y = new Prng(SEED);
    for (let i = 0; i < 1000; i++) {
      const v = x.next();
      expect(y.next()).toBe(v);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
      const k = x.int(7);
      expect(y.int(7)).toBe(k);
      expect(Number.isInteger(k) && k >= 0 && k < 7).toBe(true);
    }
    expect(x.bytes(13)).toEqual(y.bytes(13));
    expect(x.seed).toBe(SEED);
  });

  it(`differs across seeds, including seeds beyond 32 bits (seed ${SEED})`, () => {
    const first = (s: number) =>
      Array.from(
        { length: 8 },
        (
          (p) => () =>
            p.u32()
        )(new Prng(s)),
      );
    expect(first(SEED)).not.toEqual(first(SEED + 1));
    expect(first(2 ** 40)).not.toEqual(first(2 ** 40 + 2 ** 32));
    expect(deriveSeed(SEED, 'a')).not.toBe(deriveSeed(SEED, 'b'));
    expect(() => new Prng(0.5)).toThrow(RangeError);
  });

  it(`is uniform enough: mean and int buckets over 10^5 draws (seed ${SEED})`, () => {
    const p = new Prng(SEED);
    const n = 100_000;
    let sum = 0;
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < n; i++) {
      sum += p.next();
      const k = p.int(10);
      buckets[k] = (buckets[k] as number) + 1;
    }
    // The mean of n uniforms has sd sqrt(1/12n) ≈ 0.0009.
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.005);
    for (const c of buckets) expect(Math.abs(c / n - 0.1)).toBeLessThan(binomialBound(0.1, n));
  });
});

describe('SimNetwork determinism', () => {
  it(`gives the same delivery trace for the same seed (seed ${SEED})`, () => {
    const t1 = trace(SEED);
    const t2 = trace(SEED);
    expect(t1.length).toBeGreaterThan(1000);
    expect(t2).toEqual(t1);
  });

  it(`gives a different trace for a different seed under loss (seeds ${SEED}, ${SEED + 1})`, () => {
    expect(trace(SEED + 1)).not.toEqual(trace(SEED));
  });

  it(`delivers datagrams due at the same µs in send order (seed ${SEED})`, () => {
    const p = pair(SEED, { delayUs: 1000 });
    for (let i = 0; i < 50; i++) p.a.send(numbered(i), 0, 100, 2000, 'b');
    p.net.run({});
    expect(p.got.map((g) => g.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(new Set(p.got.map((g) => g.at))).toEqual(new Set([SIM_START_US + 1000]));
  });
});

describe('SimNetwork impairments', () => {
  for (const loss of [0.01, 0.1, 0.5]) {
    it(`drops about ${loss} of 10^5 datagrams (seed ${SEED})`, () => {
      const p = pair(SEED, { loss });
      const n = 100_000;
      const buf = new Uint8Array(64);
      for (let i = 0; i < n; i++) p.a.send(buf, 0, 64, 2000, 'b');
      p.net.run({});
      const s = p.net.linkStats('a', 'b');
      expect(s.sent).toBe(n);
      expect(s.lost + s.delivered).toBe(n);
      expect(p.got.length).toBe(s.delivered);
      expect(Math.abs(s.lost / n - loss)).toBeLessThan(binomialBound(loss, n));
    });
  }

  it(`duplicates about the configured share, each copy with its own bytes (seed ${SEED})`, () => {
    const p = pair(SEED, { delayUs: 100, duplicate: 0.1 });
    const n = 20_000;
    for (let i = 0; i < n; i++) p.a.send(numbered(i, 8), 0, 8, 2000, 'b');
    p.net.run({});
    const s = p.net.linkStats('a', 'b');
    expect(s.delivered).toBe(n + s.duplicated);
    expect(Math.abs(s.duplicated / n - 0.1)).toBeLessThan(binomialBound(0.1, n));
    const seen = new Map<number, Uint8Array>();
    let twice = 0;
    for (const g of p.got) {
      const prev = seen.get(g.i);
      if (prev !== undefined) {
        twice++;
        expect(g.buf).toEqual(prev);
        expect(g.buf).not.toBe(prev);
      }
      seen.set(g.i, g.buf);
    }
    expect(twice).toBe(s.duplicated);
    expect(seen.size).toBe(n);
  });

  it(`keeps order without jitter, reorders with jitter wider than the send gap (seed ${SEED})`, () => {
    const steady = pair(SEED, { delayUs: 10_000 });
    sendEvery(steady, 1000, 100);
    steady.net.run({});
    expect(steady.got.map((g) => g.i)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(steady.net.linkStats('a', 'b').reordered).toBe(0);

    const jittery = pair(SEED, { delayUs: 10_000, jitterUs: 1000 });
    sendEvery(jittery, 1000, 100);
    jittery.net.run({});
    const order = jittery.got.map((g) => g.i);
    let inversions = 0;
    let max = -1;
    for (const i of order) {
      if (i < max) inversions++;
      else max = i;
    }
    expect(inversions).toBeGreaterThan(100);
    expect(jittery.net.linkStats('a', 'b').reordered).toBe(inversions);
    for (const g of jittery.got) {
      const late = g.at - (SIM_START_US + g.i * 100);
      expect(late).toBeGreaterThanOrEqual(10_000);
      expect(late).toBeLessThanOrEqual(11_000);
    }
  });

  it(`holds back about the reorder share by exactly reorderDelayUs (seed ${SEED})`, () => {
    const p = pair(SEED, { delayUs: 10_000, reorder: 0.2 });
    const n = 5000;
    sendEvery(p, n, 1000);
    p.net.run({});
    const s = p.net.linkStats('a', 'b');
    expect(Math.abs(s.heldBack / n - 0.2)).toBeLessThan(binomialBound(0.2, n));
    let held = 0;
    for (const g of p.got) {
      const late = g.at - (SIM_START_US + g.i * 1000);
      if (late === 30_000)
        held++; // default hold-back: 2 × delay on top of the delay
      else expect(late).toBe(10_000);
    }
    expect(held).toBe(s.heldBack);
    expect(s.reordered).toBeGreaterThan(0);
  });

  it(`drops datagrams over the MTU and counts them (seed ${SEED})`, () => {
    const p = pair(SEED, { mtu: 1000 });
    p.a.send(numbered(1, 1000), 0, 1000, 2000, 'b');
    p.a.send(numbered(2, 1001), 0, 1001, 2000, 'b');
    p.a.send(numbered(3, 1500), 0, 1500, 2000, 'b');
    p.net.run({});
    expect(p.got.map((g) => g.i)).toEqual([1]);
    const s = p.net.linkStats('a', 'b');
    expect(s.droppedMtu).toBe(2);
    expect(s.sent).toBe(3);
  });
});

describe('SimNetwork bandwidth and queue', () => {
  it(`delivers one datagram at delay + serialization (seed ${SEED})`, () => {
    const p = pair(SEED, { delayUs: 20_000, bandwidthBps: 10e6 });
    p.a.send(numbered(0, 1400), 0, 1400, 2000, 'b');
    p.net.run({});
    // 1400 B × 8 / 10 Mbit/s = 1120 µs
    expect(p.got.map((g) => g.at)).toEqual([SIM_START_US + 20_000 + 1120]);
    expect(p.net.linkStats('a', 'b').maxQueueDelayUs).toBe(0);
  });

  it(`fills a drop-tail queue and drops the excess; it drains at the link rate (seed ${SEED})`, () => {
    // 1 Mbit/s: a 1000-byte datagram serializes in 8 ms. The queue holds 10 of them.
    const p = pair(SEED, { delayUs: 5000, bandwidthBps: 1e6, queueBytes: 10_000 });
    for (let i = 0; i < 25; i++) p.a.send(numbered(i, 1000), 0, 1000, 2000, 'b');
    let s = p.net.linkStats('a', 'b');
    expect(s.droppedQueue).toBe(15);
    expect(s.queuedBytes).toBe(10_000);
    p.net.run({});
    expect(p.got.map((g) => g.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(p.got.map((g) => g.at - SIM_START_US)).toEqual(Array.from({ length: 10 }, (_, k) => 5000 + 8000 * (k + 1)));
    s = p.net.linkStats('a', 'b');
    expect(s.queuedBytes).toBe(0);
    expect(s.delivered).toBe(10);
    expect(s.bytesDelivered).toBe(10_000);
    // Drained: there is room again.
    p.a.send(numbered(99, 1000), 0, 1000, 2000, 'b');
    expect(p.net.linkStats('a', 'b').droppedQueue).toBe(15);
  });

  it(`makes a datagram wait queued bytes / rate, and reports that wait (seed ${SEED})`, () => {
    const p = pair(SEED, { delayUs: 0, bandwidthBps: 2e6, queueBytes: 1 << 20 });
    for (let i = 0; i < 6; i++) p.a.send(numbered(i, 500), 0, 500, 2000, 'b');
    // Half-way through the first datagram's serialization (2 ms at 2 Mbit/s per 500 B)...
    p.net.timers.schedule(SIM_START_US + 1000, () => {
      const backlog = p.net.linkStats('a', 'b').queuedBytes;
      expect(backlog).toBe(6 * 500 - 250);
      p.a.send(numbered(6, 500), 0, 500, 2000, 'b');
    });
    p.net.run({});
    const last = p.got.find((g) => g.i === 6);
    // ...the 7th waits for the 2750 queued bytes (11 ms), then serializes (2 ms).
    expect(last?.at).toBe(SIM_START_US + 1000 + 11_000 + 2000);
    const s = p.net.linkStats('a', 'b');
    expect(s.maxQueueDelayUs).toBe(11_000);
    // Waits: 0, 2, 4, 6, 8, 10 ms for the burst and 11 ms for the late one.
    expect(s.avgQueueDelayUs).toBeCloseTo((0 + 2000 + 4000 + 6000 + 8000 + 10_000 + 11_000) / 7, 6);
  });

  it(`bounds throughput by the bandwidth under a sustained overload (seed ${SEED})`, () => {
    const p = pair(SEED, { delayUs: 1000, bandwidthBps: 8e6, queueBytes: 50_000 });
    // Offer 2 MB/s (16 Mbit/s) for one second: half must be dropped.
    sendEvery(p, 2000, 500, 1000);
    p.net.run({});
    const s = p.net.linkStats('a', 'b');
    const spanUs = (p.got.at(-1)?.at ?? 0) - (p.got[0]?.at ?? 0);
    expect(s.bytesDelivered / (spanUs / 1e6)).toBeLessThanOrEqual(1e6 * 1.001);
    expect(s.delivered).toBeGreaterThan(1000);
    expect(s.droppedQueue).toBeGreaterThan(900);
    // A datagram gets in only while at most queueBytes - size are ahead of it: 49 kB = 49 ms.
    expect(s.maxQueueDelayUs).toBeLessThanOrEqual(49_000);
    expect(s.maxQueueDelayUs).toBeGreaterThan(48_000);
  });
});

describe('SimNetwork scheduling', () => {
  it(`interleaves timers and deliveries in time order; deliveries first within a µs (seed ${SEED})`, () => {
    const p = pair(SEED, { delayUs: 3000 });
    const log: string[] = [];
    p.b.onMessage((buf) => log.push(`${p.net.now() - SIM_START_US} d${numberOf(buf)}`));
    const t = (dt: number, name: string) =>
      p.net.timers.schedule(SIM_START_US + dt, () => log.push(`${p.net.now() - SIM_START_US} ${name}`));
    t(5000, 't5');
    t(1000, 't1');
    t(3000, 't3');
    p.a.send(numbered(0), 0, 100, 2000, 'b'); // arrives at 3000
    t(2000, 'send1');
    p.net.timers.schedule(SIM_START_US + 2000, () => p.a.send(numbered(1), 0, 100, 2000, 'b')); // arrives 5000
    p.net.run({});
    expect(log).toEqual(['1000 t1', '2000 send1', '3000 d0', '3000 t3', '5000 d1', '5000 t5']);
  });

  it(`calls onIdle once per instant, after all of it, and again if the flush sends (seed ${SEED})`, () => {
    const net = new SimNetwork({ seed: SEED });
    net.setLink('a', 'b', { delayUs: 1000 });
    const a = net.bind('a', 1);
    const b = net.bind('b', 2);
    const received: number[] = [];
    let acks = 0;
    let pending = 0;
    b.onMessage((buf) => {
      received.push(numberOf(buf));
      pending++;
    });
    a.onMessage(() => acks++);
    const idle: string[] = [];
    const off = net.onIdle(() => {
      idle.push(`${net.now() - SIM_START_US}:${received.length}:${acks}`);
      // Batch: one ack per instant, over the (instant) reverse link.
      if (pending > 0) {
        b.send(new Uint8Array([pending]), 0, 1, 1, 'a');
        pending = 0;
      }
    });
    a.send(numbered(0), 0, 100, 2, 'b');
    a.send(numbered(1), 0, 100, 2, 'b');
    net.timers.schedule(SIM_START_US + 500, () => a.send(numbered(2), 0, 100, 2, 'b'));
    net.run({});
    // run() starts with a flush of what was queued before it; at 1000 both datagrams are in before
    // the flush; its ack arrives in the same µs, so a second idle follows.
    expect(idle).toEqual(['0:0:0', '500:0:0', '1000:2:0', '1000:2:1', '1500:3:1', '1500:3:2']);
    off();
    a.send(numbered(3), 0, 100, 2, 'b');
    net.run({});
    expect(idle.length).toBe(6);
  });

  it(`stops run() on until, maxTimeUs, maxEvents and quiet (seed ${SEED})`, () => {
    const p = pair(SEED, { delayUs: 1000 });
    sendEvery(p, 100, 1000);
    let r = p.net.run({ until: () => p.got.length >= 10 });
    expect(r.reason).toBe('done');
    expect(p.got.length).toBe(10);
    expect(r.now).toBe(SIM_START_US + 10_000);

    r = p.net.run({ maxTimeUs: 20_500 });
    expect(r.reason).toBe('timeout');
    expect(r.now).toBe(SIM_START_US + 30_500);
    expect(p.net.now()).toBe(r.now);
    expect(p.got.length).toBe(30);

    r = p.net.run({ maxEvents: 7 });
    expect(r.reason).toBe('timeout');
    expect(r.events).toBe(7);

    r = p.net.run({});
    expect(r.reason).toBe('quiet');
    expect(p.got.length).toBe(100);
    expect(r.now).toBe(SIM_START_US + 100_000);

    r = p.net.run({ maxTimeUs: 1e6 });
    expect(r.reason).toBe('quiet');
    expect(r.events).toBe(0);
    expect(p.net.run({ until: () => true }).reason).toBe('done');
  });

  it(`bails out of a zero-delay ping-pong within one instant via maxEvents (seed ${SEED})`, () => {
    const net = new SimNetwork({ seed: SEED });
    const a = net.bind('a', 1);
    const b = net.bind('b', 2);
    const one = new Uint8Array(1);
    a.onMessage(() => a.send(one, 0, 1, 2, 'b'));
    b.onMessage(() => b.send(one, 0, 1, 1, 'a'));
    a.send(one, 0, 1, 2, 'b');
    const r = net.run({ maxEvents: 1000 });
    expect(r).toEqual({ reason: 'timeout', now: SIM_START_US, events: 1000 });
  });
});

describe('SimSocket', () => {
  it(`copies at send time and reports the source address and port (seed ${SEED})`, () => {
    const p = pair(SEED, { delayUs: 10 });
    const buf = new Uint8Array([9, 9, 1, 2, 3, 4, 9]);
    p.a.send(buf, 2, 4, 2000, 'b');
    buf.fill(0);
    p.net.run({});
    expect(p.got).toHaveLength(1);
    expect(Array.from(p.got[0]?.buf ?? [])).toEqual([1, 2, 3, 4]);
    expect(p.got[0]?.from).toBe('a');
    expect(p.got[0]?.port).toBe(1000);
    expect(() => p.a.send(buf, 5, 4, 2000, 'b')).toThrow(RangeError);
  });

  it(`counts datagrams to unbound or closed ports and to unknown hosts (seed ${SEED})`, () => {
    const p = pair(SEED, { delayUs: 1000 });
    p.a.send(numbered(0), 0, 100, 2001, 'b'); // nobody there
    p.a.send(numbered(1), 0, 100, 2000, 'b'); // closes before arrival
    p.a.send(numbered(2), 0, 100, 2000, 'nowhere');
    p.b.close();
    p.net.run({});
    expect(p.got).toEqual([]);
    expect(p.net.linkStats('a', 'b').unbound).toBe(2);
    expect(p.net.linkStats('a', 'nowhere').unbound).toBe(1);
    expect(p.b.closed).toBe(true);
    expect(() => p.b.send(numbered(3), 0, 100, 1000, 'a')).toThrow();
  });

  it(`binds ephemeral ports, refuses a taken one, and frees it on close (seed ${SEED})`, () => {
    const net = new SimNetwork({ seed: SEED });
    const s1 = net.bind('h', 0);
    const s2 = net.bind('h', 0);
    expect(s1.port).toBeGreaterThanOrEqual(49152);
    expect(s2.port).not.toBe(s1.port);
    expect(s1.address).toBe('h');
    const fixed = net.bind('h', 5000);
    expect(() => net.bind('h', 5000)).toThrow(/in use/);
    fixed.close();
    expect(net.bind('h', 5000).port).toBe(5000);
    expect(net.bind('other', 5000).port).toBe(5000);
  });

  it(`rejects invalid link options (seed ${SEED})`, () => {
    const net = new SimNetwork({ seed: SEED });
    expect(() => net.setLink('a', 'b', { loss: 1.5 })).toThrow(RangeError);
    expect(() => net.setLink('a', 'b', { delayUs: -1 })).toThrow(RangeError);
    expect(() => net.setLink('a', 'b', { bandwidthBps: 0 })).toThrow(RangeError);
  });
});

describe('SimNetwork speed', () => {
  it(`pushes a million datagrams through a lossy, jittery, rate-limited link (seed ${SEED})`, () => {
    const p = pair(SEED, { delayUs: 10_000, jitterUs: 2000, loss: 0.01, bandwidthBps: 10e9, queueBytes: 1 << 24 });
    let count = 0;
    p.b.onMessage(() => count++);
    const buf = new Uint8Array(1200);
    const n = 1_000_000;
    let sent = 0;
    const tick = () => {
      for (let i = 0; i < 100 && sent < n; i++, sent++) p.a.send(buf, 0, 1200, 2000, 'b');
      if (sent < n) p.net.timers.schedule(p.net.now() + 100, tick);
    };
    const t0 = process.cpuUsage();
    tick();
    const r = p.net.run({});
    const cpu = process.cpuUsage(t0);
    const rate = n / ((cpu.user + cpu.system) / 1e6);
    console.log(`sim speed: ${Math.round(rate).toLocaleString('en')} datagrams per CPU-second (${r.events} events)`);
    const s = p.net.linkStats('a', 'b');
    expect(s.delivered + s.lost + s.droppedQueue).toBe(n);
    expect(count).toBe(s.delivered);
    expect(s.droppedQueue).toBe(0);
    // A loose floor that only a per-datagram blow-up (closures, O(n) queue ops) would miss.
    expect(rate).toBeGreaterThan(100_000);
  });
});
