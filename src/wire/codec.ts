import {
  EXT_BITS,
  EXT_BITS_LENGTH,
  EXT_HEADER_SIZE,
  EXT_NONE,
  EXT_SACK,
  HEADER_SIZE,
  type PacketType,
  ST_SYN,
  UTP_VERSION,
} from './constants.js';
import { PacketHeader } from './header.js';

/** An extension the codec does not interpret; kept so it can be re-encoded byte for byte. */
export interface UnknownExtension {
  readonly type: number;
  readonly data: Uint8Array;
}

/** A decoded packet. `payload`, `sack` and extension data are views into the datagram, not copies. */
export interface Packet {
  readonly type: PacketType;
  readonly connectionId: number;
  readonly timestamp: number;
  readonly timestampDiff: number;
  readonly windowSize: number;
  readonly seqNr: number;
  readonly ackNr: number;
  /** Selective ACK bitmask: bit k (LSB first in each byte) set means ack_nr + 2 + k was received. */
  readonly sack: Uint8Array | undefined;
  /** Extensions other than SACK, in wire order. */
  readonly extensions: readonly UnknownExtension[];
  readonly payload: Uint8Array;
}

/** What `encode` takes: a packet whose optional parts may be left out. */
export interface PacketInit {
  readonly type: PacketType;
  readonly connectionId: number;
  readonly timestamp?: number;
  readonly timestampDiff?: number;
  readonly windowSize?: number;
  readonly seqNr: number;
  readonly ackNr: number;
  readonly sack?: Uint8Array | undefined;
  readonly extensions?: readonly UnknownExtension[];
  readonly payload?: Uint8Array;
}

export type DecodeErrorCode = 'TOO_SHORT' | 'BAD_VERSION' | 'UNKNOWN_TYPE' | 'EXTENSION_OVERRUN' | 'BAD_SACK_LENGTH';

export interface DecodeError {
  readonly type: 'error';
  readonly code: DecodeErrorCode;
  readonly message: string;
}

export type DecodeResult =
  | { readonly ok: true; readonly packet: Packet }
  | { readonly ok: false; readonly error: DecodeError };

const MESSAGES: Record<DecodeErrorCode, string> = {
  TOO_SHORT: 'datagram shorter than the 20-byte uTP header',
  BAD_VERSION: 'uTP version is not 1',
  UNKNOWN_TYPE: 'packet type is not one of ST_DATA..ST_SYN',
  EXTENSION_OVERRUN: 'extension chain runs past the end of the datagram',
  BAD_SACK_LENGTH: 'selective ACK bitmask is empty',
};

/**
 * Where the parts of a datagram are, found without allocating: the hot receive path fills one of
 * these per socket and reuses it for every packet.
 */
export interface PacketLayout {
  /** Offset of the SACK bitmask, or −1 when there is none. */
  sackOffset: number;
  sackLength: number;
  /** Offset where the payload starts (after the extension chain). */
  payloadOffset: number;
  /** Whether any extension other than SACK was present. */
  hasUnknownExtensions: boolean;
  /** Offset of the first 8-byte extension-bits extension's data, or −1. */
  extBitsOffset: number;
}

export function createLayout(): PacketLayout {
  return { sackOffset: -1, sackLength: 0, payloadOffset: HEADER_SIZE, hasUnknownExtensions: false, extBitsOffset: -1 };
}

/**
 * Validate a datagram and find its parts. Returns null when it is a well-formed uTP packet, or the
 * reason it is not. Never throws, never allocates.
 */
export function scanPacket(buf: Uint8Array, layout: PacketLayout): DecodeErrorCode | null {
  const len = buf.length;
  if (len < HEADER_SIZE) return 'TOO_SHORT';
  const b0 = buf[0] as number;
  if ((b0 & 0xf) !== UTP_VERSION) return 'BAD_VERSION';
  if (b0 >>> 4 > ST_SYN) return 'UNKNOWN_TYPE';
  layout.sackOffset = -1;
  layout.sackLength = 0;
  layout.hasUnknownExtensions = false;
  layout.extBitsOffset = -1;
  let ext = buf[1] as number;
  let at = HEADER_SIZE;
  while (ext !== EXT_NONE) {
    if (at + EXT_HEADER_SIZE > len) return 'EXTENSION_OVERRUN';
    const next = buf[at] as number;
    const extLen = buf[at + 1] as number;
    const data = at + EXT_HEADER_SIZE;
    if (data + extLen > len) return 'EXTENSION_OVERRUN';
    if (ext === EXT_SACK) {
      // BEP 29 says a multiple of 4, but libtorrent sends (span + 7) / 8 bytes: any length 1..32.
      if (extLen === 0) return 'BAD_SACK_LENGTH';
      // A second SACK in one chain is not meaningful; the first one wins, as in libutp.
      if (layout.sackOffset < 0) {
        layout.sackOffset = data;
        layout.sackLength = extLen;
      }
    } else {
      layout.hasUnknownExtensions = true;
      if (ext === EXT_BITS && extLen === EXT_BITS_LENGTH && layout.extBitsOffset < 0) layout.extBitsOffset = data;
    }
    ext = next;
    at = data + extLen;
  }
  layout.payloadOffset = at;
  return null;
}

const scratchLayout = createLayout();
const scratchHeader = new PacketHeader(new Uint8Array(HEADER_SIZE));

/** Decode a datagram into a packet object. Never throws on bad bytes. */
export function decode(buf: Uint8Array): DecodeResult {
  const code = scanPacket(buf, scratchLayout);
  if (code !== null) return { ok: false, error: { type: 'error', code, message: MESSAGES[code] } };
  const h = scratchHeader.reset(buf);
  const extensions: UnknownExtension[] = [];
  if (scratchLayout.hasUnknownExtensions) {
    let ext = h.extension;
    let at = HEADER_SIZE;
    while (ext !== EXT_NONE) {
      const next = buf[at] as number;
      const extLen = buf[at + 1] as number;
      if (ext !== EXT_SACK) extensions.push({ type: ext, data: buf.subarray(at + 2, at + 2 + extLen) });
      ext = next;
      at += EXT_HEADER_SIZE + extLen;
    }
  }
  const { sackOffset, sackLength, payloadOffset } = scratchLayout;
  const packet: Packet = {
    type: h.type as PacketType,
    connectionId: h.connectionId,
    timestamp: h.timestamp,
    timestampDiff: h.timestampDiff,
    windowSize: h.windowSize,
    seqNr: h.seqNr,
    ackNr: h.ackNr,
    sack: sackOffset >= 0 ? buf.subarray(sackOffset, sackOffset + sackLength) : undefined,
    extensions,
    payload: buf.subarray(payloadOffset),
  };
  return { ok: true, packet };
}

/** Bytes `encode` will write for this packet. */
export function encodedLength(p: PacketInit): number {
  let n = HEADER_SIZE + (p.payload?.length ?? 0);
  if (p.sack) n += EXT_HEADER_SIZE + p.sack.length;
  if (p.extensions) for (const e of p.extensions) n += EXT_HEADER_SIZE + e.data.length;
  return n;
}

/**
 * Encode a packet. Writes into `out` at `offset` when given (it must have room) and returns the
 * written bytes as a view; otherwise allocates. SACK, when present, is written first in the chain.
 * Throws RangeError on a SACK or extension that cannot be represented (our bug, not the peer's).
 */
export function encode(p: PacketInit, out?: Uint8Array, offset = 0): Uint8Array {
  const len = encodedLength(p);
  const buf = out ?? new Uint8Array(len);
  if (buf.length - offset < len) throw new RangeError(`encode needs ${len} bytes, buffer has ${buf.length - offset}`);
  if (p.sack && (p.sack.length === 0 || p.sack.length % 4 !== 0 || p.sack.length > 255)) {
    throw new RangeError('SACK bitmask length must be a positive multiple of 4, at most 252');
  }
  const exts: { type: number; data: Uint8Array }[] = [];
  if (p.sack) exts.push({ type: EXT_SACK, data: p.sack });
  if (p.extensions) {
    for (const e of p.extensions) {
      // Type 1 belongs in `sack`: as an opaque extension it would decode back as a SACK.
      if (!(e.type > EXT_SACK && e.type <= 255) || e.data.length > 255) throw new RangeError('extension out of range');
      exts.push(e);
    }
  }
  const h = new PacketHeader(buf, offset);
  h.type = p.type;
  h.version = UTP_VERSION;
  h.extension = exts.length > 0 ? (exts[0]?.type ?? EXT_NONE) : EXT_NONE;
  h.connectionId = p.connectionId;
  h.timestamp = p.timestamp ?? 0;
  h.timestampDiff = p.timestampDiff ?? 0;
  h.windowSize = p.windowSize ?? 0;
  h.seqNr = p.seqNr;
  h.ackNr = p.ackNr;
  let at = offset + HEADER_SIZE;
  for (let i = 0; i < exts.length; i++) {
    const e = exts[i] as { type: number; data: Uint8Array };
    buf[at] = exts[i + 1]?.type ?? EXT_NONE;
    buf[at + 1] = e.data.length;
    buf.set(e.data, at + 2);
    at += EXT_HEADER_SIZE + e.data.length;
  }
  if (p.payload) buf.set(p.payload, at);
  return buf.subarray(offset, offset + len);
}
