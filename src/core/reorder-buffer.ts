/**
 * The receive reorder buffer: payloads that arrived ahead of the next expected seq, held until the
 * gap before them fills. The in-order case never touches the buffer (the caller consumes the payload
 * straight away), so a loss-free stream costs one comparison per packet.
 *
 * Entries live in a ring indexed by seqNr & (size − 1). Every stored seq lies in ackNr + 1 …
 * ackNr + size, so no two of them share a slot. The ring starts with one (always empty) slot, gets
 * INITIAL_SLOTS when the first packet arrives out of order, and doubles (rehashing what it holds)
 * when a packet lands beyond it, up to `capacity`: an idle or loss-free connection keeps no ring,
 * a fast one with a wide window gets the slots its window needs.
 */
import { seqAdd, seqDiff } from '../wire/seq.js';
import { sackSet } from './sack.js';

/** libutp REORDER_BUFFER_MAX_SIZE */
export const REORDER_BUFFER_MAX_SIZE = 1024;

export type ReceiveResult = 'in-order' | 'buffered' | 'duplicate' | 'too-far';

export interface ReorderBufferOptions {
  /** Most packets held ahead of a gap; a power of two, at most 32768 (half the sequence space). */
  capacity: number;
}

/** Slots a buffer gets when the first packet arrives out of order. */
const INITIAL_SLOTS = 64;

export class ReorderBuffer {
  private readonly capacity: number;
  private mask: number;
  private payloads: (Uint8Array | undefined)[];
  private _ackNr = 0;
  private _bufferedCount = 0;
  private _bufferedBytes = 0;
  /** Highest buffered seq; meaningful only while something is buffered. */
  private highestSeq = 0;
  private _duplicates = 0;
  private _outOfOrder = 0;
  private _tooFar = 0;

  constructor(opts: ReorderBufferOptions) {
    const { capacity } = opts;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 32768 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`reorder buffer capacity must be a power of two ≤ 32768, got ${capacity}`);
    }
    this.capacity = capacity;
    // One slot, never filled: ackNr + 1 (the in-order case) finds it empty without a ring.
    this.mask = 0;
    this.payloads = [undefined];
  }

  /** Slots allocated now (grows on demand up to the capacity). */
  get slots(): number {
    return this.payloads.length;
  }

  /** Double the ring until seq distance `d` fits, moving what is held to its new slots. */
  private grow(d: number): void {
    let size = Math.max(this.payloads.length, Math.min(this.capacity, INITIAL_SLOTS));
    while (size < d) size *= 2;
    const old = this.payloads;
    const next = new Array<Uint8Array | undefined>(size).fill(undefined);
    const mask = size - 1;
    for (let k = 1; k <= old.length; k++) {
      const seq = (this._ackNr + k) & 0xffff;
      const p = old[seq & this.mask];
      if (p !== undefined) next[seq & mask] = p;
    }
    this.payloads = next;
    this.mask = mask;
  }

  /** ackNr: the last seq considered received; the next expected is ackNr + 1. Drops anything buffered. */
  init(ackNr: number): void {
    this.payloads.fill(undefined);
    this._ackNr = ackNr & 0xffff;
    this._bufferedCount = 0;
    this._bufferedBytes = 0;
  }

  /** Cumulative: the last seq received in order. */
  get ackNr(): number {
    return this._ackNr;
  }
  get bufferedCount(): number {
    return this._bufferedCount;
  }
  get bufferedBytes(): number {
    return this._bufferedBytes;
  }
  get duplicates(): number {
    return this._duplicates;
  }
  /** Packets that arrived ahead of a gap and were buffered. */
  get outOfOrder(): number {
    return this._outOfOrder;
  }
  get tooFar(): number {
    return this._tooFar;
  }

  /**
   * 'in-order': seqNr is ackNr + 1; ackNr advances and the caller consumes the payload itself, then
   * calls shift() until undefined. 'buffered': stored as a view (the caller must not reuse the
   * bytes). 'duplicate' and 'too-far' are dropped and counted. An empty payload (a bare FIN) is a
   * valid entry.
   */
  receive(seqNr: number, payload: Uint8Array): ReceiveResult {
    const d = seqDiff(seqNr, this._ackNr);
    if (d <= 0) {
      this._duplicates++;
      return 'duplicate';
    }
    if (d > this.capacity) {
      this._tooFar++;
      return 'too-far';
    }
    // d === 1 needs no ring (the one-slot start has ackNr + 1's slot, empty).
    if (d > this.payloads.length && d > 1) this.grow(d);
    const i = seqNr & this.mask;
    if (this.payloads[i] !== undefined) {
      // Also covers ackNr + 1 arriving again before the caller drained it with shift().
      this._duplicates++;
      return 'duplicate';
    }
    if (d === 1) {
      this._ackNr = seqNr & 0xffff;
      return 'in-order';
    }
    this.payloads[i] = payload;
    if (this._bufferedCount === 0 || seqDiff(seqNr, this.highestSeq) > 0) this.highestSeq = seqNr & 0xffff;
    this._bufferedCount++;
    this._bufferedBytes += payload.length;
    this._outOfOrder++;
    return 'buffered';
  }

  /** Pops the next buffered in-order payload (advancing ackNr), or undefined. */
  shift(): Uint8Array | undefined {
    if (this._bufferedCount === 0) return undefined;
    const next = seqAdd(this._ackNr, 1);
    const i = next & this.mask;
    const p = this.payloads[i];
    if (p === undefined) return undefined;
    this.payloads[i] = undefined;
    this._ackNr = next;
    this._bufferedCount--;
    this._bufferedBytes -= p.length;
    return p;
  }

  /**
   * Writes the SACK mask for seqs ackNr + 2 … into out (whole 4-byte groups, at most out.length,
   * trailing all-zero groups left out) and returns the bytes used; 0 when nothing is buffered
   * beyond ackNr + 1, and then no SACK should be sent.
   */
  writeSack(out: Uint8Array): number {
    if (this._bufferedCount === 0) return 0;
    const base = seqAdd(this._ackNr, 2);
    // Bits needed to reach the highest buffered seq; the rest of out stays untouched.
    let bits = seqDiff(this.highestSeq, base) + 1;
    const maxBits = (out.length & ~3) * 8;
    if (bits > maxBits) bits = maxBits;
    if (bits <= 0) return 0;
    let bytes = ((bits + 31) >>> 5) << 2;
    out.fill(0, 0, bytes);
    for (let k = 0; k < bits; k++) {
      if (this.payloads[(base + k) & this.mask] !== undefined) sackSet(out, k);
    }
    // Only a mask cut short by out.length can end in empty groups.
    while (bytes > 0 && (out[bytes - 1]! | out[bytes - 2]! | out[bytes - 3]! | out[bytes - 4]!) === 0) bytes -= 4;
    return bytes;
  }
}
