import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReorderBuffer } from '../../../src/core/reorder-buffer.js';
import { forEachSacked } from '../../../src/core/sack.js';
import { seqAdd } from '../../../src/wire/seq.js';

// fast-check prints the seed and counterexample path on failure; FC_SEED replays another run.
const seed = Number(process.env.FC_SEED ?? 0x2e0d);

/** ackNr before the first packet; the stream starts at 65531 and crosses 65535 → 0. */
const ACK0 = 65530;
const s = (n: number) => seqAdd(ACK0, 1 + n); // seq of the n-th packet

function bytes(...v: number[]): Uint8Array {
  return Uint8Array.from(v);
}

/** Feeds one packet and returns what the caller would deliver, in order. */
function deliver(rb: ReorderBuffer, seqNr: number, payload: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (rb.receive(seqNr, payload) === 'in-order') {
    out.push(payload);
    for (let p = rb.shift(); p !== undefined; p = rb.shift()) out.push(p);
  }
  return out;
}

function sackedSeqs(rb: ReorderBuffer, maskBytes: number): { used: number; seqs: number[] } {
  const out = new Uint8Array(maskBytes).fill(0xee); // garbage the writer must overwrite
  const used = rb.writeSack(out);
  const seqs: number[] = [];
  forEachSacked(rb.ackNr, out.subarray(0, used), (q) => seqs.push(q));
  return { used, seqs };
}

describe('ReorderBuffer', () => {
  it('passes in-order packets straight through without storing them', () => {
    const rb = new ReorderBuffer({ capacity: 16 });
    rb.init(ACK0);
    for (let n = 0; n < 10; n++) {
      expect(rb.receive(s(n), bytes(n))).toBe('in-order');
      expect(rb.shift()).toBeUndefined();
    }
    expect(rb.ackNr).toBe(s(9));
    expect(rb.bufferedCount).toBe(0);
    expect(rb.outOfOrder).toBe(0);
  });

  it('holds packets after a gap and releases them when it fills, across the wrap', () => {
    const rb = new ReorderBuffer({ capacity: 16 });
    rb.init(ACK0);
    expect(rb.receive(s(2), bytes(2, 2))).toBe('buffered');
    expect(rb.receive(s(4), bytes(4))).toBe('buffered');
    expect(rb.receive(s(1), new Uint8Array(0))).toBe('buffered'); // an empty payload (a bare FIN) is an entry
    expect(rb.bufferedCount).toBe(3);
    expect(rb.bufferedBytes).toBe(3);
    expect(rb.ackNr).toBe(ACK0);
    expect(rb.shift()).toBeUndefined();
    expect(deliver(rb, s(0), bytes(0)).map((p) => [...p])).toEqual([[0], [], [2, 2]]);
    expect(rb.ackNr).toBe(s(2));
    expect(rb.bufferedCount).toBe(1);
    expect(rb.bufferedBytes).toBe(1);
    expect(deliver(rb, s(3), bytes(3)).map((p) => [...p])).toEqual([[3], [4]]);
    expect(rb.ackNr).toBe(s(4));
    expect(rb.outOfOrder).toBe(3);
  });

  it('drops and counts duplicates: old, buffered twice, or in-order again before shift()', () => {
    const rb = new ReorderBuffer({ capacity: 16 });
    rb.init(ACK0);
    expect(rb.receive(ACK0, bytes(9))).toBe('duplicate');
    expect(rb.receive(s(0), bytes(0))).toBe('in-order');
    expect(rb.receive(s(0), bytes(0))).toBe('duplicate');
    expect(rb.receive(s(2), bytes(2))).toBe('buffered');
    expect(rb.receive(s(2), bytes(2))).toBe('duplicate');
    expect(rb.receive(s(1), bytes(1))).toBe('in-order');
    // The caller has not drained s(2) yet; a second copy must not be delivered as in-order too.
    expect(rb.receive(s(2), bytes(2))).toBe('duplicate');
    expect([...rb.shift()!]).toEqual([2]);
    expect(rb.receive(seqAdd(ACK0, -30000), bytes(7))).toBe('duplicate');
    expect(rb.duplicates).toBe(5);
    expect(rb.bufferedCount).toBe(0);
  });

  it('drops and counts packets beyond ackNr + capacity', () => {
    const rb = new ReorderBuffer({ capacity: 8 });
    rb.init(ACK0);
    expect(rb.receive(seqAdd(ACK0, 9), bytes(9))).toBe('too-far');
    expect(rb.receive(seqAdd(ACK0, 300), bytes(9))).toBe('too-far');
    expect(rb.receive(seqAdd(ACK0, 8), bytes(8))).toBe('buffered');
    expect(rb.tooFar).toBe(2);
    expect(rb.bufferedCount).toBe(1);
    expect(rb.duplicates).toBe(0);
  });

  it('writes a SACK mask from ackNr + 2, in whole 4-byte groups', () => {
    const rb = new ReorderBuffer({ capacity: 64 });
    rb.init(ACK0);
    expect(rb.writeSack(new Uint8Array(8))).toBe(0);
    rb.receive(s(1), bytes(1)); // bit 0
    rb.receive(s(9), bytes(9)); // bit 8
    const out = new Uint8Array(8).fill(0xff);
    expect(rb.writeSack(out)).toBe(4);
    expect([...out.subarray(0, 4)]).toEqual([0b1, 0b1, 0, 0]);
    rb.receive(s(33), bytes(33)); // bit 32: a second group
    expect(sackedSeqs(rb, 8)).toEqual({ used: 8, seqs: [s(1), s(9), s(33)] });
    // A short output keeps the first 32 bits.
    expect(sackedSeqs(rb, 4)).toEqual({ used: 4, seqs: [s(1), s(9)] });
    // Nothing buffered within what out can describe: no mask.
    const far = new ReorderBuffer({ capacity: 64 });
    far.init(ACK0);
    far.receive(s(40), bytes(1));
    expect(far.writeSack(new Uint8Array(4))).toBe(0);
    expect(sackedSeqs(far, 8)).toEqual({ used: 8, seqs: [s(40)] });
  });

  it('delivers any arrival order with duplicates as the original stream, exactly once', () => {
    const streamArb = fc.integer({ min: 1, max: 200 }).chain((n) =>
      fc.record({
        n: fc.constant(n),
        order: fc.shuffledSubarray(
          Array.from({ length: n }, (_, i) => i),
          { minLength: n, maxLength: n },
        ),
        dups: fc.array(fc.tuple(fc.nat(n - 1), fc.nat()), { maxLength: 60 }),
        initial: fc.integer({ min: 65300, max: 65535 }),
      }),
    );
    fc.assert(
      fc.property(streamArb, ({ n, order, dups, initial }) => {
        const arrivals = [...order];
        for (const [i, at] of dups) arrivals.splice(at % (arrivals.length + 1), 0, i);
        // Payload i: (i % 5) bytes, so empty packets occur too.
        const payload = (i: number) => Uint8Array.from({ length: i % 5 }, (_, j) => (i * 7 + j) & 0xff);
        const expected = Array.from({ length: n }, (_, i) => [...payload(i)]).flat();

        const rb = new ReorderBuffer({ capacity: 256 });
        rb.init(initial);
        const seqOf = (i: number) => seqAdd(initial, 1 + i);
        const received = new Set<number>();
        const got: number[] = [];
        let delivered = 0;
        for (const i of arrivals) {
          const pieces = deliver(rb, seqOf(i), payload(i));
          delivered += pieces.length;
          for (const p of pieces) got.push(...p);
          received.add(i);
          // Whatever is received but not delivered yet is buffered, and the SACK says exactly that.
          const pending = [...received].filter((j) => j >= delivered).sort((a, b) => a - b);
          expect(rb.bufferedCount).toBe(pending.length);
          expect(rb.ackNr).toBe(seqAdd(initial, delivered));
          const { used, seqs } = sackedSeqs(rb, 40);
          expect(seqs).toEqual(pending.map(seqOf));
          expect(used % 4).toBe(0);
          expect(used === 0).toBe(pending.length === 0);
        }
        expect(got).toEqual(expected);
        expect(delivered).toBe(n);
        expect(rb.duplicates).toBe(arrivals.length - n);
        expect(rb.tooFar).toBe(0);
        expect(rb.bufferedCount).toBe(0);
        expect(rb.bufferedBytes).toBe(0);
      }),
      { seed, numRuns: 300 },
    );
  });
});
