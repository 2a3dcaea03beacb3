/**
 * Seeded pseudo-random numbers for the simulator: sfc32 (Chris Doty-Humphrey's small fast counting
 * generator), its 128-bit state filled from the seed by splitmix32. Fast, passes PractRand to 2^40+,
 * and — what matters here — the same seed gives the same stream on every platform, because every
 * step is 32-bit integer arithmetic.
 */

const TWO_POW_32 = 4294967296;

/** One splitmix32 step: a well-mixed 32-bit value from a counter. */
function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
}

/** Fold a safe integer (which may exceed 32 bits, e.g. Date.now()) into 32 well-mixed bits. */
function foldSeed(seed: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / TWO_POW_32) >>> 0;
  return splitmix32(lo ^ splitmix32(hi));
}

/**
 * A seed for an independent stream named `label` under `seed` — so each simulated link draws from its
 * own stream and its losses don't shift when traffic on another link changes.
 */
export function deriveSeed(seed: number, label: string): number {
  checkSeed(seed);
  // FNV-1a over the label's UTF-16 code units, then mixed with the parent seed.
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return splitmix32(foldSeed(seed) ^ splitmix32(h >>> 0));
}

export class Prng {
  readonly seed: number;
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    checkSeed(seed);
    this.seed = seed;
    const s = foldSeed(seed);
    this.a = splitmix32(s);
    this.b = splitmix32(s + 1);
    this.c = splitmix32(s + 2);
    this.d = splitmix32(s + 3);
    // The first outputs of sfc32 are still correlated with the seed; the reference discards 12.
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const a = this.a;
    const b = this.b;
    const c = this.c;
    const d = this.d;
    const t = (((a + b) | 0) + d) | 0;
    this.d = (d + 1) | 0;
    this.a = b ^ (b >>> 9);
    this.b = (c + (c << 3)) | 0;
    this.c = (((c << 21) | (c >>> 11)) + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number {
    return this.u32() / TWO_POW_32;
  }

  /** Uniform integer in [0, n) for 1 ≤ n ≤ 2^32. The bias (n / 2^32 at worst) is irrelevant for simulation. */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const x = this.u32();
      out[i] = x & 0xff;
      out[i + 1] = (x >>> 8) & 0xff;
      out[i + 2] = (x >>> 16) & 0xff;
      out[i + 3] = x >>> 24;
    }
    if (i < n) {
      let x = this.u32();
      for (; i < n; i++, x >>>= 8) out[i] = x & 0xff;
    }
    return out;
  }
}
