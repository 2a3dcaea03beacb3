/**
 * 16-bit sequence-number and 32-bit timestamp arithmetic.
 *
 * seq_nr and ack_nr wrap at 65536 (BEP 29); comparisons treat the space as a circle where the
 * nearer half ahead of `b` is "greater". Timestamps are µs truncated to 32 bits and wrap about
 * every 71 minutes, so only differences are meaningful.
 */

export const SEQ_MASK = 0xffff;

/** (a + n) mod 65536. */
export function seqAdd(a: number, n: number): number {
  return (a + n) & SEQ_MASK;
}

/** Signed distance a − b in [−32768, 32767]: positive when a is ahead of b. */
export function seqDiff(a: number, b: number): number {
  return (((a - b) & SEQ_MASK) << 16) >> 16;
}

export function seqLt(a: number, b: number): boolean {
  return seqDiff(a, b) < 0;
}

export function seqLte(a: number, b: number): boolean {
  return seqDiff(a, b) <= 0;
}

export function seqGt(a: number, b: number): boolean {
  return seqDiff(a, b) > 0;
}

export function seqGte(a: number, b: number): boolean {
  return seqDiff(a, b) >= 0;
}

/** A µs clock reading truncated to the 32 bits a header carries. */
export function ts32(nowUs: number): number {
  return nowUs >>> 0;
}

/** (a − b) mod 2³², the way a receiver computes timestamp_difference_microseconds. */
export function tsDiff(a: number, b: number): number {
  return (a - b) >>> 0;
}
