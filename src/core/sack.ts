/**
 * The selective-ACK bitmask (BEP 29 extension 1).
 *
 * Bit k of the mask — byte k >> 3, bit k & 7, least significant bit first — says that seq
 * ackNr + 2 + k was received. ackNr + 1 has no bit: it is missing by definition, or ackNr would
 * have moved past it.
 */
import { seqAdd } from '../wire/seq.js';

export function sackHas(mask: Uint8Array, k: number): boolean {
  if (k < 0 || k >> 3 >= mask.length) return false;
  return ((mask[k >> 3]! >> (k & 7)) & 1) === 1;
}

export function sackSet(mask: Uint8Array, k: number): void {
  if (k < 0 || k >> 3 >= mask.length) throw new RangeError(`SACK bit ${k} outside a ${mask.length}-byte mask`);
  mask[k >> 3]! |= 1 << (k & 7);
}

/** Calls fn(seqNr) for each seq the mask says was received, ascending. */
export function forEachSacked(ackNr: number, mask: Uint8Array, fn: (seqNr: number) => void): void {
  const base = seqAdd(ackNr, 2);
  for (let i = 0; i < mask.length; i++) {
    let byte = mask[i]!;
    // Most masks are sparse; skipping empty bytes keeps a long mask cheap.
    for (let bit = 0; byte !== 0; bit++, byte >>= 1) {
      if (byte & 1) fn(seqAdd(base, (i << 3) + bit));
    }
  }
}
