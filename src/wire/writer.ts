/**
 * Writing packets in place: every header, extension and padding the protocol core sends is laid
 * out here, so byte order and extension-chain rules live in src/wire only. The hot path writes into
 * buffers it reuses (the send buffer's slots); nothing here allocates.
 *
 * Extension chain (BEP 29): the header's `extension` byte names the first extension; each extension
 * is [next type, length, data…]; type 0 ends the chain. libutp drops a packet whose *first*
 * extension type is 3 or more, so every chain utpx writes starts with SACK (1) or extension bits (2).
 */
import {
  EXT_BITS,
  EXT_BITS_LARGE_DATAGRAMS_BYTE,
  EXT_BITS_LARGE_DATAGRAMS_MASK,
  EXT_BITS_LENGTH,
  EXT_HEADER_SIZE,
  EXT_NONE,
  EXT_PADDING,
  HEADER_SIZE,
  UTP_VERSION,
} from './constants.js';
import { PacketHeader } from './header.js';

/** The fields of a header; `extension` is the first extension's type (0: none). */
export interface HeaderFields {
  type: number;
  connectionId: number;
  timestamp: number;
  timestampDiff: number;
  windowSize: number;
  seqNr: number;
  ackNr: number;
  extension: number;
}

const view = new PacketHeader(new Uint8Array(0));

/** The whole 20-byte header at the start of `buf`. */
export function writeHeader(buf: Uint8Array, f: HeaderFields): void {
  const h = view.reset(buf);
  h.type = f.type;
  h.version = UTP_VERSION;
  h.extension = f.extension;
  h.connectionId = f.connectionId;
  h.timestamp = f.timestamp;
  h.timestampDiff = f.timestampDiff;
  h.windowSize = f.windowSize;
  h.seqNr = f.seqNr;
  h.ackNr = f.ackNr;
}

/**
 * The fields that change with every transmission of a packet already laid out (a retransmission
 * goes out with a fresh timestamp, window and ack).
 */
export function restampHeader(
  buf: Uint8Array,
  timestamp: number,
  timestampDiff: number,
  windowSize: number,
  ackNr: number,
): void {
  const h = view.reset(buf);
  h.timestamp = timestamp;
  h.timestampDiff = timestampDiff;
  h.windowSize = windowSize;
  h.ackNr = ackNr;
}

/** Rewrites a header's seq_nr in place. */
export function writeSeqNr(buf: Uint8Array, seqNr: number): void {
  view.reset(buf).seqNr = seqNr;
}

/** Bytes the extension-bits extension takes. */
export const EXT_BITS_SIZE = EXT_HEADER_SIZE + EXT_BITS_LENGTH;

/**
 * The extension-bits extension at `at` (right after the header, which must name EXT_BITS as its
 * first extension), with utpx's large-datagrams bit set. Returns the offset after it.
 */
export function writeLargeDatagramsBits(buf: Uint8Array, at: number, next: number): number {
  buf[at] = next;
  buf[at + 1] = EXT_BITS_LENGTH;
  buf.fill(0, at + 2, at + EXT_BITS_SIZE);
  buf[at + 2 + EXT_BITS_LARGE_DATAGRAMS_BYTE] = EXT_BITS_LARGE_DATAGRAMS_MASK;
  return at + EXT_BITS_SIZE;
}

/**
 * A SACK extension header at `at` whose `length` mask bytes the caller has written at `at + 2`
 * (the reorder buffer writes them in place). Returns the offset after it.
 */
export function writeSackHeader(buf: Uint8Array, at: number, next: number, length: number): number {
  buf[at] = next;
  buf[at + 1] = length;
  return at + EXT_HEADER_SIZE + length;
}

/**
 * A copy of the packet `src[0, length)` (header and payload, no extensions) padded to `size` bytes
 * with skippable extensions: a path-MTU probe that is also an ordinary DATA packet. The chain
 * starts with extension bits (8 zero bytes, which libutp accepts) and goes on with EXT_PADDING
 * pieces of up to 2 + 255 bytes each, never leaving a single byte no piece could hold.
 * `size` must be at least length + EXT_BITS_SIZE and not length + EXT_BITS_SIZE + 1.
 */
export function writeProbe(src: Uint8Array, length: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(src.subarray(0, HEADER_SIZE), 0);
  view.reset(out).extension = EXT_BITS;
  let pad = size - length - EXT_BITS_SIZE;
  out[HEADER_SIZE] = pad > 0 ? EXT_PADDING : EXT_NONE;
  out[HEADER_SIZE + 1] = EXT_BITS_LENGTH;
  let at = HEADER_SIZE + EXT_BITS_SIZE;
  while (pad > 0) {
    let len = Math.min(pad - EXT_HEADER_SIZE, 255);
    if (pad - EXT_HEADER_SIZE - len === 1) len--;
    pad -= len + EXT_HEADER_SIZE;
    out[at] = pad > 0 ? EXT_PADDING : EXT_NONE;
    out[at + 1] = len;
    at += EXT_HEADER_SIZE + len;
  }
  out.set(src.subarray(HEADER_SIZE, length), at);
  return out;
}

/** The probe size nearest below `size` that `writeProbe` can pad a `length`-byte packet to, or 0. */
export function probeSizeFor(length: number, size: number): number {
  if (size - length === EXT_BITS_SIZE + 1) size--;
  return size >= length + EXT_BITS_SIZE ? size : 0;
}
