import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { forEachSacked, sackHas, sackSet } from '../../../src/core/sack.js';
import { seqAdd } from '../../../src/wire/seq.js';

// fast-check prints the seed and counterexample path on failure; FC_SEED replays another run.
const seed = Number(process.env.FC_SEED ?? 0x5ac4);
const runs = { seed, numRuns: 500 };

function sacked(ackNr: number, mask: Uint8Array): number[] {
  const seqs: number[] = [];
  forEachSacked(ackNr, mask, (s) => seqs.push(s));
  return seqs;
}

describe('sackSet / sackHas', () => {
  it('uses byte k >> 3, bit k & 7, least significant bit first', () => {
    const mask = new Uint8Array(4);
    sackSet(mask, 0);
    sackSet(mask, 9);
    sackSet(mask, 31);
    expect([...mask]).toEqual([0b0000_0001, 0b0000_0010, 0, 0b1000_0000]);
    expect(sackHas(mask, 0)).toBe(true);
    expect(sackHas(mask, 1)).toBe(false);
    expect(sackHas(mask, 9)).toBe(true);
    expect(sackHas(mask, 31)).toBe(true);
  });

  it('answers false outside the mask and refuses to set outside it', () => {
    const mask = new Uint8Array(4).fill(0xff);
    expect(sackHas(mask, -1)).toBe(false);
    expect(sackHas(mask, 32)).toBe(false);
    expect(() => sackSet(mask, 32)).toThrow(RangeError);
    expect(() => sackSet(mask, -1)).toThrow(RangeError);
  });

  it('round-trips any set of bits', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { maxLength: 80 }), (bits) => {
        const mask = new Uint8Array(32);
        for (const k of bits) sackSet(mask, k);
        const set = new Set(bits);
        for (let k = 0; k < 256; k++) expect(sackHas(mask, k)).toBe(set.has(k));
      }),
      runs,
    );
  });
});

describe('forEachSacked', () => {
  it('starts at ackNr + 2 and wraps past 65535', () => {
    const mask = new Uint8Array(4);
    for (const k of [0, 1, 2, 5, 30]) sackSet(mask, k);
    expect(sacked(65533, mask)).toEqual([65535, 0, 1, 4, 29]);
    expect(sacked(10, new Uint8Array(8))).toEqual([]);
  });

  it('visits exactly the set bits, ascending in sequence order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.uniqueArray(fc.integer({ min: 0, max: 127 }), { maxLength: 60 }),
        (ackNr, bits) => {
          const mask = new Uint8Array(16);
          for (const k of bits) sackSet(mask, k);
          const expected = [...bits].sort((a, b) => a - b).map((k) => seqAdd(ackNr, 2 + k));
          expect(sacked(ackNr, mask)).toEqual(expected);
        },
      ),
      runs,
    );
  });
});
