import { createHash } from 'node:crypto';

/** Seeded bytes (mulberry32, four bytes a draw): the same on every run and in every process. */
export function seededBytes(seed: number, n: number): Buffer {
  let s = seed >>> 0;
  const words = new Uint32Array(Math.ceil(n / 4));
  for (let i = 0; i < words.length; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    words[i] = (t ^ (t >>> 14)) >>> 0;
  }
  return Buffer.from(words.buffer, 0, n);
}

export function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
