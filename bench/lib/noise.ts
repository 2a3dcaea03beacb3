/**
 * Deterministic test data for transfers: a pool of xorshift32 noise made once, and chunks cut from
 * it at shifting offsets, each stamped with its number so no two are alike. Generating bytes per
 * chunk would cost more CPU than the transport being measured.
 */

export function noisePool(seed: number, bytes: number): Buffer {
  const pool = Buffer.allocUnsafe(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= bytes; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    pool.writeUInt32LE(x >>> 0, i);
  }
  for (let i = bytes - (bytes % 4); i < bytes; i++) pool[i] = i & 0xff;
  return pool;
}

/** Chunk number `index` (`size` ≤ pool length − 4096 bytes). */
export function noiseChunk(pool: Buffer, index: number, size: number): Buffer {
  const at = (index * 4099) % (pool.length - size);
  const buf = Buffer.allocUnsafe(size);
  pool.copy(buf, 0, at, at + size);
  if (size >= 4) buf.writeUInt32LE(index, 0);
  return buf;
}
