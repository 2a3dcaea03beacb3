import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SEQ_MASK, seqAdd, seqDiff, seqGt, seqGte, seqLt, seqLte, ts32, tsDiff } from '../../../src/wire/seq.js';

// fast-check prints the seed and counterexample path on failure; FC_SEED replays another run.
const seed = Number(process.env.FC_SEED ?? 0x5eed);
const runs = { seed, numRuns: 2000 };

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
/** Every distance seqDiff can return. */
const dist = fc.integer({ min: -0x8000, max: 0x7fff });

describe('seqAdd', () => {
  it('wraps at 65536 in both directions', () => {
    expect(seqAdd(0xffff, 1)).toBe(0);
    expect(seqAdd(0xfffa, 10)).toBe(4);
    expect(seqAdd(0, -1)).toBe(0xffff);
    expect(seqAdd(3, -10)).toBe(0xfff9);
    expect(seqAdd(100, 0x10000)).toBe(100);
    expect(seqAdd(100, 0)).toBe(100);
  });

  it('always lands in [0, 65535] and agrees with modular arithmetic', () => {
    fc.assert(
      fc.property(u16, fc.integer({ min: -0x30000, max: 0x30000 }), (a, n) => {
        const r = seqAdd(a, n);
        expect(r).toBeGreaterThanOrEqual(0);
        expect(r).toBeLessThanOrEqual(SEQ_MASK);
        expect(r).toBe((((a + n) % 0x10000) + 0x10000) % 0x10000);
      }),
      runs,
    );
  });
});

describe('seqDiff and comparisons', () => {
  it('measures short distances across the 65535→0 wrap', () => {
    expect(seqDiff(0, 0xffff)).toBe(1);
    expect(seqDiff(0xffff, 0)).toBe(-1);
    expect(seqDiff(5, 0xfffb)).toBe(10);
    expect(seqDiff(0xfffb, 5)).toBe(-10);
    expect(seqDiff(1234, 1234)).toBe(0);
    expect(seqDiff(0x7fff, 0)).toBe(0x7fff);
    // Exactly half the circle apart is ambiguous; the function reports it as behind from both sides.
    expect(seqDiff(0x8000, 0)).toBe(-0x8000);
    expect(seqDiff(0, 0x8000)).toBe(-0x8000);
  });

  it('orders across the wrap', () => {
    expect(seqLt(0xffff, 0)).toBe(true);
    expect(seqGt(0, 0xffff)).toBe(true);
    expect(seqLt(0, 0xffff)).toBe(false);
    expect(seqGt(0xffff, 0)).toBe(false);
    expect(seqLt(0xfff0, 0x0010)).toBe(true);
    expect(seqLte(7, 7)).toBe(true);
    expect(seqGte(7, 7)).toBe(true);
    expect(seqLt(7, 7)).toBe(false);
    expect(seqGt(7, 7)).toBe(false);
    expect(seqLte(0xffff, 0)).toBe(true);
    expect(seqGte(0, 0xffff)).toBe(true);
    expect(seqGte(0xffff, 0)).toBe(false);
  });

  it('recovers the distance it was given: seqDiff(seqAdd(b, d), b) = d', () => {
    fc.assert(
      fc.property(u16, dist, (b, d) => {
        expect(seqDiff(seqAdd(b, d), b)).toBe(d);
      }),
      runs,
    );
  });

  it('is antisymmetric except at the half-way point', () => {
    fc.assert(
      fc.property(u16, u16, (a, b) => {
        const d = seqDiff(a, b);
        expect(d).toBeGreaterThanOrEqual(-0x8000);
        expect(d).toBeLessThanOrEqual(0x7fff);
        if (d === -0x8000) expect(seqDiff(b, a)).toBe(-0x8000);
        else expect(seqDiff(b, a) + d).toBe(0);
      }),
      runs,
    );
  });

  it('comparisons are mirror images and consistent with each other', () => {
    fc.assert(
      fc.property(u16, u16, (a, b) => {
        const half = seqDiff(a, b) === -0x8000;
        if (!half) {
          expect(seqLt(a, b)).toBe(seqGt(b, a));
          expect(seqLte(a, b)).toBe(seqGte(b, a));
          // Trichotomy: exactly one of <, =, > holds.
          expect(Number(seqLt(a, b)) + Number(a === b) + Number(seqGt(a, b))).toBe(1);
        }
        expect(seqLte(a, b)).toBe(seqLt(a, b) || a === b);
        expect(seqGte(a, b)).toBe(seqGt(a, b) || a === b);
        expect(seqLt(a, b)).toBe(!seqGte(a, b));
        expect(seqGt(a, b)).toBe(!seqLte(a, b));
      }),
      runs,
    );
  });

  it('is invariant under shifting both operands (the circle has no origin)', () => {
    fc.assert(
      fc.property(u16, u16, fc.integer(), (a, b, k) => {
        expect(seqDiff(seqAdd(a, k), seqAdd(b, k))).toBe(seqDiff(a, b));
        expect(seqLt(seqAdd(a, k), seqAdd(b, k))).toBe(seqLt(a, b));
      }),
      runs,
    );
  });

  it('a is before a + n for every n in 1..32767, and after a − n', () => {
    fc.assert(
      fc.property(u16, fc.integer({ min: 1, max: 0x7fff }), (a, n) => {
        expect(seqLt(a, seqAdd(a, n))).toBe(true);
        expect(seqGt(a, seqAdd(a, -n))).toBe(true);
      }),
      runs,
    );
  });
});

describe('ts32 and tsDiff', () => {
  const TWO32 = 2 ** 32;

  it('truncates a µs clock to 32 bits across the 2^32 wrap', () => {
    expect(ts32(0)).toBe(0);
    expect(ts32(TWO32 - 1)).toBe(0xffffffff);
    expect(ts32(TWO32)).toBe(0);
    expect(ts32(TWO32 + 5)).toBe(5);
    expect(ts32(3 * TWO32 + 0x80000000)).toBe(0x80000000);
  });

  it('matches exact modular reduction for any safe-integer clock', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (t) => {
        expect(ts32(t)).toBe(Number(BigInt(t) % BigInt(TWO32)));
      }),
      runs,
    );
  });

  it('computes forward differences across the wrap', () => {
    expect(tsDiff(5, 0xfffffffb)).toBe(10);
    expect(tsDiff(0, 0xffffffff)).toBe(1);
    expect(tsDiff(0xffffffff, 0)).toBe(0xffffffff);
    expect(tsDiff(1000, 1000)).toBe(0);
    expect(tsDiff(1000, 1001)).toBe(0xffffffff);
  });

  it('tsDiff(ts32(t + d), ts32(t)) = d for every d below 2^32', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 52 }), u32, (t, d) => {
        expect(tsDiff(ts32(t + d), ts32(t))).toBe(d);
      }),
      runs,
    );
  });

  it('tsDiff is in [0, 2^32) and a − b plus b − a is 0 mod 2^32', () => {
    fc.assert(
      fc.property(u32, u32, (a, b) => {
        const d = tsDiff(a, b);
        expect(Number.isInteger(d) && d >= 0 && d < TWO32).toBe(true);
        expect((d + tsDiff(b, a)) % TWO32).toBe(0);
      }),
      runs,
    );
  });
});
