import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DELAY_BASE_BUCKET_US,
  Ledbat,
  type LedbatOptions,
  MAX_WINDOW_DECAY_US,
  MIN_WINDOW_SIZE,
  TARGET_DELAY_US,
} from '../../../src/core/ledbat.js';
import { Prng } from '../../../src/sim/prng.js';
import { ts32, tsDiff } from '../../../src/wire/seq.js';

const MS = 1000;
const MINUTE = 60_000_000;
const PKT = 1400;
const SEED = Number(process.env.UTPX_SEED ?? 0x1edba7);

/** Seeded PRNG so every random scenario is reproducible from SEED. */
function rng(seed: number): () => number {
  const p = new Prng(seed);
  return () => p.next();
}

/** One received ack carrying a delay sample; the sender had filled its window. */
function step(l: Ledbat, now: number, ourDelay: number, theirDelay = 0, acked = PKT): void {
  l.onDelaySample(now, ourDelay >>> 0, theirDelay >>> 0);
  l.onAck(now, acked, l.cwnd, Number.POSITIVE_INFINITY);
}

describe('Ledbat window versus queuing delay', () => {
  const BASE = 25 * MS;

  it('grows on every ack while queuing delay is below target and shrinks while above', () => {
    const l = new Ledbat({ slowStart: false, initialCwnd: 20 * PKT });
    let now = 1_000_000;
    l.onDelaySample(now, BASE, 0);
    let prev = l.cwnd;
    for (let i = 0; i < 200; i++) {
      now += 10 * MS;
      step(l, now, BASE + 20 * MS);
      expect(l.cwnd).toBeGreaterThan(prev);
      prev = l.cwnd;
    }
    expect(l.stats().queuingDelayUs).toBe(20 * MS);
    for (let i = 0; i < 200; i++) {
      now += 10 * MS;
      step(l, now, BASE + 150 * MS);
      // The current-delay filter is the minimum of the last three samples: two acks still see 20 ms.
      if (i >= 2) expect(l.cwnd).toBeLessThan(prev);
      prev = l.cwnd;
    }
    expect(l.stats().queuingDelayUs).toBe(150 * MS);
    expect(l.stats().baseDelayUs).toBe(BASE);
  });

  it("applies libutp's gain below target and LEDBAT++'s multiplicative decrease above it, exactly", () => {
    const l = new Ledbat({ slowStart: false, initialCwnd: 14_000 });
    l.onDelaySample(0, BASE, 0);
    for (let i = 1; i <= 3; i++) l.onDelaySample(i * MS, BASE + 50 * MS, 0);
    l.onAck(4 * MS, PKT, 14_000, Number.POSITIVE_INFINITY);
    // 3000 · 0.1 · 0.5
    expect(l.cwnd).toBe(14_150);
    l.onDelaySample(5 * MS, BASE + 150 * MS, 0);
    for (let i = 0; i < 3; i++) l.onDelaySample(6 * MS + i, BASE + 150 * MS, 0);
    l.onAck(7 * MS, 1415, 14_150, Number.POSITIVE_INFINITY);
    // per RTT: max(3000 − 14150 · (150/100 − 1), −14150/2) = −4075; this ack's share (1415/14150 = 0.1): −407.5
    expect(l.cwnd).toBe(13_742.5);
  });

  it('at zero queuing delay grows by about MAX_CWND_INCREASE_BYTES_PER_RTT (3000) per window acked', () => {
    const l = new Ledbat({ slowStart: false, initialCwnd: 30 * PKT });
    l.onDelaySample(0, BASE, 0);
    const start = l.cwnd;
    for (let i = 0; i < 30; i++) step(l, (i + 1) * MS, BASE);
    expect(l.cwnd - start).toBeGreaterThan(2800);
    expect(l.cwnd - start).toBeLessThanOrEqual(3000);
  });

  it('does nothing on an ack before any delay sample (libutp skips ccontrol without one)', () => {
    const l = new Ledbat({ initialCwnd: 10 * PKT });
    l.onDelaySample(0, 0, 5 * MS); // their delay only; ours "not yet known"
    l.onAck(0, PKT, 10 * PKT, Number.POSITIVE_INFINITY);
    expect(l.cwnd).toBe(10 * PKT);
  });

  it('caps our delay by the RTT of the acked packets and shifts the base up (libutp min_rtt)', () => {
    const l = new Ledbat({ slowStart: false, initialCwnd: 20 * PKT });
    l.onDelaySample(0, BASE, 0);
    for (let i = 1; i <= 3; i++) l.onDelaySample(i * MS, BASE + 300 * MS, 0);
    const before = l.cwnd;
    l.onAck(4 * MS, PKT, l.cwnd, 40 * MS);
    // A 300 ms one-way delay is impossible with a 40 ms RTT: treated as 40 ms, so the window grows.
    expect(l.cwnd).toBeGreaterThan(before);
    expect(l.stats().baseDelayUs).toBe(BASE + 260 * MS);
    l.onDelaySample(5 * MS, BASE + 300 * MS, 0);
    l.onDelaySample(6 * MS, BASE + 300 * MS, 0);
    l.onDelaySample(7 * MS, BASE + 300 * MS, 0);
    expect(l.stats().queuingDelayUs).toBe(40 * MS);
  });
});

describe('Ledbat base delay history', () => {
  const D = 50 * MS;

  it('follows a lowered path delay at once', () => {
    const l = new Ledbat();
    for (let i = 0; i < 5; i++) l.onDelaySample(i * 1e6, D, 0);
    expect(l.stats().baseDelayUs).toBe(D);
    for (let i = 5; i < 10; i++) l.onDelaySample(i * 1e6, D - 20 * MS, 0);
    expect(l.stats().baseDelayUs).toBe(D - 20 * MS);
    expect(l.stats().queuingDelayUs).toBe(0);
  });

  it('forgets an old lower minimum after 13 one-minute buckets and follows a raised path delay', () => {
    expect(DELAY_BASE_BUCKET_US).toBe(MINUTE);
    const l = new Ledbat();
    const raised = D + 30 * MS;
    let baseAt12_5 = -1;
    for (let s = 0; s <= 14 * 60; s++) {
      l.onDelaySample(s * 1e6, s <= 30 ? D : raised, 0);
      if (s === 750) baseAt12_5 = l.stats().baseDelayUs;
    }
    expect(baseAt12_5).toBe(D);
    expect(l.stats().baseDelayUs).toBe(raised);
    expect(l.stats().queuingDelayUs).toBe(0);
  });

  it('steps over the minutes it missed when samples resume after a silence', () => {
    const l = new Ledbat();
    l.onDelaySample(0, D, 0);
    l.onDelaySample(1e6, D, 0);
    l.onDelaySample(20 * MINUTE, D + 30 * MS, 0);
    expect(l.stats().baseDelayUs).toBe(D + 30 * MS);
    // …but a short silence keeps the minimum.
    const m = new Ledbat();
    m.onDelaySample(0, D, 0);
    m.onDelaySample(3 * MINUTE, D + 30 * MS, 0);
    expect(m.stats().baseDelayUs).toBe(D);
  });
});

describe('Ledbat clocks', () => {
  /** Cwnd after each step of a seeded scenario whose raw delays carry `offset` (mod 2³²). */
  function trajectory(offset: number): { cwnd: number[]; queuing: number[] } {
    const r = rng(SEED);
    const l = new Ledbat({ initialCwnd: 4 * PKT });
    const cwnd: number[] = [];
    const queuing: number[] = [];
    let now = 0;
    for (let i = 0; i < 2000; i++) {
      now += 5 * MS + Math.floor(r() * 10 * MS);
      const q = i < 10 ? 0 : Math.floor(r() * 200 * MS);
      const ourDelay = (30 * MS + q + offset) >>> 0;
      const theirDelay = (40 * MS + Math.floor(r() * 5 * MS) - offset) >>> 0;
      l.onDelaySample(now, ourDelay, theirDelay);
      if (r() < 0.01) l.onLoss(now);
      l.onAck(now, PKT, r() < 0.9 ? l.cwnd : PKT, Number.POSITIVE_INFINITY);
      cwnd.push(l.cwnd);
      queuing.push(l.stats().queuingDelayUs);
    }
    return { cwnd, queuing };
  }

  it('a constant clock offset between the hosts changes no decision, even when samples wrap 2³²', () => {
    const ref = trajectory(0);
    expect(ref.cwnd.some((c, i) => i > 0 && c < (ref.cwnd[i - 1] as number))).toBe(true);
    expect(ref.cwnd.some((c, i) => i > 0 && c > (ref.cwnd[i - 1] as number))).toBe(true);
    for (const offset of [123_456_789, 2 ** 32 - 35 * MS, 2 ** 31 + 7]) {
      const t = trajectory(offset);
      expect(t.cwnd, `seed ${SEED} offset ${offset}`).toEqual(ref.cwnd);
      expect(t.queuing, `seed ${SEED} offset ${offset}`).toEqual(ref.queuing);
    }
  });

  it('clock drift: their base falling by small steps raises our base by as much (libutp)', () => {
    const DRIFT = 500; // µs per sample, under the 10 ms step limit
    const OUR0 = 2 ** 32 - 5 * MS; // our samples drift upward across the 2³² wrap
    const THEIR0 = 40 * MS;
    const withDrift = new Ledbat({ slowStart: false, initialCwnd: 20 * PKT });
    const blind = new Ledbat({ slowStart: false, initialCwnd: 20 * PKT });
    for (let k = 0; k < 40; k++) {
      const now = k * 100 * MS;
      step(withDrift, now, OUR0 + k * DRIFT, THEIR0 - k * DRIFT);
      step(blind, now, OUR0 + k * DRIFT, 0);
      expect(withDrift.stats().queuingDelayUs).toBe(0);
    }
    expect(withDrift.stats().baseDelayUs).toBe((OUR0 + 39 * DRIFT) >>> 0);
    // Without the other direction's view, drift reads as queuing (the filter keeps the least of the last 3).
    expect(blind.stats().queuingDelayUs).toBe(37 * DRIFT);
    expect(withDrift.cwnd).toBeGreaterThan(blind.cwnd);
  });

  it('a drop of their base by more than 10 ms is a path change, not drift: our base stays', () => {
    const l = new Ledbat();
    l.onDelaySample(0, 30 * MS, 60 * MS);
    l.onDelaySample(MS, 0, 45 * MS);
    expect(l.stats().baseDelayUs).toBe(30 * MS);
    // A 5 ms drop is taken as drift (no sample of ours here, so nothing pulls the base back down).
    l.onDelaySample(2 * MS, 0, 40 * MS);
    expect(l.stats().baseDelayUs).toBe(35 * MS);
  });

  it('survives both hosts’ 32-bit clocks wrapping mid-run, with samples straddling zero', () => {
    const ONE_WAY = 20 * MS;
    /** Per step queuing q; our sample = recvTs32 − sendTs32 as the peer computes it. */
    function run(senderOffset: number, receiverOffset: number): { cwnd: number[]; queuing: number[] } {
      const r = rng(SEED ^ 0x32);
      const l = new Ledbat({ initialCwnd: 4 * PKT });
      const cwnd: number[] = [];
      const queuing: number[] = [];
      for (let i = 0; i < 1500; i++) {
        const now = 1_000_000 + i * 10 * MS;
        const q = i < 5 ? 0 : Math.floor(r() * 150 * MS);
        const sent = now - ONE_WAY - q;
        const ourDelay = tsDiff(ts32(now + receiverOffset), ts32(sent + senderOffset));
        const theirDelay = tsDiff(ts32(now + senderOffset + ONE_WAY), ts32(now + receiverOffset));
        l.onDelaySample(now, ourDelay, theirDelay);
        l.onAck(now, PKT, l.cwnd, Number.POSITIVE_INFINITY);
        cwnd.push(l.cwnd);
        queuing.push(l.stats().queuingDelayUs);
      }
      return { cwnd, queuing };
    }
    const plain = run(5_000_000, 9_000_000);
    // Receiver clock crosses 2³² after ~5 s; the sender's is behind by one_way + 50 ms, so the raw
    // samples sit on both sides of zero depending on the queuing delay.
    const recvOffset = 2 ** 32 - 5_000_000;
    const wrapped = run(recvOffset + ONE_WAY + 50 * MS, recvOffset);
    expect(wrapped.cwnd, `seed ${SEED}`).toEqual(plain.cwnd);
    expect(wrapped.queuing, `seed ${SEED}`).toEqual(plain.queuing);
    expect(Math.max(...plain.queuing)).toBeLessThan(150 * MS);
  });
});

describe('Ledbat slow start', () => {
  /** `rounds` RTTs, each acking the whole window packet by packet at zero queuing delay. */
  function ramp(l: Ledbat, rounds: number): void {
    let now = 0;
    l.onDelaySample(now, 30 * MS, 0);
    for (let r = 0; r < rounds; r++) {
      const acks = Math.max(1, Math.floor(l.cwnd / PKT));
      for (let a = 0; a < acks; a++) step(l, (now += MS), 30 * MS);
    }
  }

  it('grows faster than congestion avoidance and ends on loss', () => {
    const ss = new Ledbat();
    const ca = new Ledbat({ slowStart: false });
    expect(ss.cwnd).toBe(PKT);
    ramp(ss, 6);
    ramp(ca, 6);
    expect(ss.stats().slowStart).toBe(true);
    expect(ss.cwnd).toBeGreaterThan(2 * ca.cwnd);
    expect(ss.cwnd).toBeGreaterThanOrEqual(2 ** 6 * PKT);
    const before = ss.cwnd;
    ss.onLoss(10_000_000);
    expect(ss.stats().slowStart).toBe(false);
    expect(ss.cwnd).toBe(before / 2);
    expect(ss.stats().ssthresh).toBe(before / 2);
  });

  it('ends once our delay exceeds 90% of the target', () => {
    const l = new Ledbat({ initialCwnd: 10 * PKT });
    l.onDelaySample(0, 30 * MS, 0);
    for (let i = 1; i <= 3; i++) l.onDelaySample(i, 30 * MS + 0.95 * TARGET_DELAY_US, 0);
    l.onAck(10, PKT, l.cwnd, Number.POSITIVE_INFINITY);
    expect(l.stats().slowStart).toBe(false);
    expect(l.stats().ssthresh).toBe(10 * PKT);
  });

  it('after a timeout, slow start stops at the ssthresh a loss left behind', () => {
    const l = new Ledbat({ initialCwnd: 40 * PKT });
    l.onDelaySample(0, 30 * MS, 0);
    l.onLoss(0);
    expect(l.stats().ssthresh).toBe(20 * PKT);
    l.onTimeout(1_000_000);
    expect(l.cwnd).toBe(PKT);
    expect(l.stats().slowStart).toBe(true);
    let now = 2_000_000;
    while (l.stats().slowStart) step(l, (now += MS), 30 * MS);
    expect(l.cwnd).toBeLessThanOrEqual(20 * PKT + 3000);
    expect(l.cwnd).toBeGreaterThan(10 * PKT);
  });
});

describe('Ledbat loss and timeout', () => {
  it('halves once for two losses within 100 ms, again after the decay interval', () => {
    expect(MAX_WINDOW_DECAY_US).toBe(100 * MS);
    const l = new Ledbat({ initialCwnd: 40_000 });
    l.onLoss(1_000_000);
    expect(l.cwnd).toBe(20_000);
    l.onLoss(1_000_000 + 99 * MS);
    expect(l.cwnd).toBe(20_000);
    l.onLoss(1_000_000 + 100 * MS);
    expect(l.cwnd).toBe(10_000);
    expect(l.stats().losses).toBe(3);
  });

  it('never halves below minCwnd (libutp MIN_WINDOW_SIZE, 10 bytes, by default)', () => {
    const l = new Ledbat({ initialCwnd: 40_000 });
    for (let i = 0; i < 50; i++) l.onLoss(i * 1e6);
    expect(l.cwnd).toBe(MIN_WINDOW_SIZE);
    const m = new Ledbat({ initialCwnd: 40_000, minCwnd: 2 * PKT });
    for (let i = 0; i < 50; i++) m.onLoss(i * 1e6);
    expect(m.cwnd).toBe(2 * PKT);
  });

  it('a timeout resets the window to one packet and re-enters slow start', () => {
    const l = new Ledbat({ initialCwnd: 50_000 });
    l.onLoss(0);
    expect(l.stats().slowStart).toBe(false);
    l.onTimeout(1e6);
    expect(l.cwnd).toBe(PKT);
    expect(l.stats().slowStart).toBe(true);
    expect(l.stats().timeouts).toBe(1);
    // From below a packet too: the reset is what lets a starved sender send again.
    const starved = new Ledbat({ initialCwnd: 50 });
    starved.onTimeout(0);
    expect(starved.cwnd).toBe(PKT);
  });

  it('a timeout respects a minCwnd above one packet, and slowStart: false', () => {
    const l = new Ledbat({ initialCwnd: 50_000, minCwnd: 3 * PKT, slowStart: false });
    l.onTimeout(0);
    expect(l.cwnd).toBe(3 * PKT);
    expect(l.stats().slowStart).toBe(false);
  });

  it('an idle timeout (nothing in flight) only decays the window by a third (libutp)', () => {
    const l = new Ledbat({ initialCwnd: 30_000, slowStart: false });
    l.onTimeout(0, 0);
    expect(l.cwnd).toBe(20_000);
    expect(l.stats().slowStart).toBe(false);
    const small = new Ledbat({ initialCwnd: 1800 });
    small.onTimeout(0, 0);
    expect(small.cwnd).toBe(PKT);
  });

  it('follows a packet size change for the timeout reset', () => {
    const l = new Ledbat({ initialCwnd: 30_000 });
    l.setPacketSize(1200);
    l.onTimeout(0);
    expect(l.cwnd).toBe(1200);
  });
});

describe('Ledbat app-limited sender', () => {
  it('does not grow the window when the sender is not filling it, in either phase', () => {
    for (const slowStart of [true, false]) {
      const l = new Ledbat({ initialCwnd: 20 * PKT, slowStart });
      l.onDelaySample(0, 30 * MS, 0);
      for (let i = 1; i < 100; i++) {
        l.onDelaySample(i * MS, 30 * MS, 0);
        l.onAck(i * MS, PKT, 2 * PKT, Number.POSITIVE_INFINITY);
      }
      expect(l.cwnd).toBe(20 * PKT);
    }
  });

  it('still shrinks when delay is above target', () => {
    const l = new Ledbat({ initialCwnd: 20 * PKT, slowStart: false });
    l.onDelaySample(0, 30 * MS, 0);
    for (let i = 1; i < 10; i++) {
      l.onDelaySample(i * MS, 30 * MS + 200 * MS, 0);
      l.onAck(i * MS, PKT, 2 * PKT, Number.POSITIVE_INFINITY);
    }
    expect(l.cwnd).toBeLessThan(20 * PKT);
  });

  it('counts the window as used when one more packet would not fit', () => {
    const grow = new Ledbat({ initialCwnd: 20 * PKT, slowStart: false });
    const flat = new Ledbat({ initialCwnd: 20 * PKT, slowStart: false });
    for (const l of [grow, flat]) l.onDelaySample(0, 30 * MS, 0);
    grow.onAck(MS, PKT, 19 * PKT + 1, Number.POSITIVE_INFINITY);
    flat.onAck(MS, PKT, 19 * PKT, Number.POSITIVE_INFINITY);
    expect(grow.cwnd).toBeGreaterThan(20 * PKT);
    expect(flat.cwnd).toBe(20 * PKT);
  });
});

describe('Ledbat sendWindow', () => {
  it('is min(cwnd, peer window) in whole bytes', () => {
    const l = new Ledbat({ initialCwnd: 20_000.75 });
    expect(l.sendWindow(5000)).toBe(5000);
    expect(l.sendWindow(1e9)).toBe(20_000);
    expect(l.sendWindow(0)).toBe(0);
    expect(l.sendWindow(-3)).toBe(0);
    expect(l.sendWindow(Number.NaN)).toBe(0);
  });
});

describe('Ledbat options', () => {
  it('rejects nonsensical configuration up front', () => {
    expect(() => new Ledbat({ packetSize: 0 })).toThrow(RangeError);
    expect(() => new Ledbat({ minCwnd: 5000, maxCwnd: 4000 })).toThrow(RangeError);
    expect(() => new Ledbat({ targetDelayUs: Number.NaN })).toThrow(RangeError);
  });

  it('clamps the initial window into [minCwnd, maxCwnd]', () => {
    expect(new Ledbat({ initialCwnd: 1e9, maxCwnd: 100_000 }).cwnd).toBe(100_000);
    expect(new Ledbat({ initialCwnd: 100, minCwnd: 2800 }).cwnd).toBe(2800);
  });
});

describe('Ledbat invariants under random input (fast-check)', () => {
  const u32 = fc.oneof(
    fc.constantFrom(0, 1, 0xffffffff, 0x80000000, 0x7fffffff),
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.integer({ min: 0, max: 500_000 }),
  );
  const weird = fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -1, -1e9);
  const dt = fc.integer({ min: 0, max: 3 * MINUTE });
  const command = fc.oneof(
    fc.record({ kind: fc.constant('sample' as const), dt, our: u32, their: u32 }),
    fc.record({
      kind: fc.constant('ack' as const),
      dt,
      bytes: fc.oneof(fc.integer({ min: 0, max: 2_000_000 }), weird),
      flight: fc.oneof(fc.integer({ min: 0, max: 20_000_000 }), weird),
      minRtt: fc.oneof(fc.integer({ min: 0, max: 10_000_000 }), weird),
    }),
    fc.record({ kind: fc.constant('loss' as const), dt }),
    fc.record({ kind: fc.constant('timeout' as const), dt, flight: fc.constantFrom(undefined, 0, PKT) }),
    fc.record({ kind: fc.constant('mtu' as const), size: fc.integer({ min: 100, max: 9000 }) }),
  );
  const options: fc.Arbitrary<LedbatOptions> = fc
    .record({
      minCwnd: fc.integer({ min: 1, max: 20_000 }),
      extra: fc.integer({ min: 0, max: 5_000_000 }),
      packetSize: fc.integer({ min: 100, max: 9000 }),
      slowStart: fc.boolean(),
    })
    .map(({ minCwnd, extra, packetSize, slowStart }) => ({
      minCwnd,
      maxCwnd: minCwnd + extra,
      packetSize,
      slowStart,
    }));

  it('keeps cwnd finite and within [minCwnd, maxCwnd], and sendWindow within both bounds', () => {
    fc.assert(
      fc.property(
        options,
        fc.array(command, { maxLength: 300 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (o, cmds, peer) => {
          const l = new Ledbat(o);
          const min = o.minCwnd as number;
          const max = o.maxCwnd as number;
          let now = 0;
          for (const c of cmds) {
            if (c.kind === 'mtu') l.setPacketSize(c.size);
            else {
              now += c.dt;
              if (c.kind === 'sample') l.onDelaySample(now, c.our, c.their);
              else if (c.kind === 'ack') l.onAck(now, c.bytes, c.flight, c.minRtt);
              else if (c.kind === 'loss') l.onLoss(now);
              else l.onTimeout(now, c.flight);
            }
            const w = l.cwnd;
            if (!(Number.isFinite(w) && w >= min && w <= max)) return false;
            const s = l.sendWindow(peer);
            if (!(Number.isInteger(s) && s >= 0 && s <= w && s <= peer)) return false;
            const st = l.stats();
            if (!Number.isFinite(st.queuingDelayUs) || !Number.isFinite(st.baseDelayUs)) return false;
          }
          return true;
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });
});
