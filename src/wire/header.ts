import { HEADER_SIZE } from './constants.js';

/**
 * A view over the 20-byte uTP header in a caller's buffer. Every field is read and written in
 * network byte order by the accessors; no caller ever computes an offset.
 *
 *   0       4       8               16              24              32
 *   +-------+-------+---------------+---------------+---------------+
 *   | type  | ver   | extension     | connection_id                 |
 *   | timestamp_microseconds                                        |
 *   | timestamp_difference_microseconds                             |
 *   | wnd_size                                                      |
 *   | seq_nr                        | ack_nr                        |
 */
export class PacketHeader {
  buf: Uint8Array;
  offset: number;

  constructor(buf: Uint8Array, offset = 0) {
    this.buf = buf;
    this.offset = offset;
  }

  /** Point the view at another datagram without allocating a new view. */
  reset(buf: Uint8Array, offset = 0): this {
    this.buf = buf;
    this.offset = offset;
    return this;
  }

  /** Whether the buffer holds at least a whole header from `offset`. */
  get complete(): boolean {
    return this.buf.length - this.offset >= HEADER_SIZE;
  }

  get type(): number {
    return (this.buf[this.offset] as number) >>> 4;
  }
  set type(v: number) {
    const o = this.offset;
    this.buf[o] = ((v & 0xf) << 4) | ((this.buf[o] as number) & 0xf);
  }

  get version(): number {
    return (this.buf[this.offset] as number) & 0xf;
  }
  set version(v: number) {
    const o = this.offset;
    this.buf[o] = ((this.buf[o] as number) & 0xf0) | (v & 0xf);
  }

  /** Type of the first extension; 0 when there is none. */
  get extension(): number {
    return this.buf[this.offset + 1] as number;
  }
  set extension(v: number) {
    this.buf[this.offset + 1] = v & 0xff;
  }

  get connectionId(): number {
    return this.u16(2);
  }
  set connectionId(v: number) {
    this.setU16(2, v);
  }

  /** Sender's µs clock (low 32 bits) when the packet left. */
  get timestamp(): number {
    return this.u32(4);
  }
  set timestamp(v: number) {
    this.setU32(4, v);
  }

  /** The sender's last measured one-way delay from us to it, µs (32-bit wrapping). */
  get timestampDiff(): number {
    return this.u32(8);
  }
  set timestampDiff(v: number) {
    this.setU32(8, v);
  }

  /** Bytes the sender can still receive (its advertised receive window). */
  get windowSize(): number {
    return this.u32(12);
  }
  set windowSize(v: number) {
    this.setU32(12, v);
  }

  get seqNr(): number {
    return this.u16(16);
  }
  set seqNr(v: number) {
    this.setU16(16, v);
  }

  get ackNr(): number {
    return this.u16(18);
  }
  set ackNr(v: number) {
    this.setU16(18, v);
  }

  private u16(at: number): number {
    const b = this.buf;
    const o = this.offset + at;
    return ((b[o] as number) << 8) | (b[o + 1] as number);
  }

  private setU16(at: number, v: number): void {
    const b = this.buf;
    const o = this.offset + at;
    b[o] = (v >>> 8) & 0xff;
    b[o + 1] = v & 0xff;
  }

  private u32(at: number): number {
    const b = this.buf;
    const o = this.offset + at;
    return (
      (((b[o] as number) << 24) | ((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number)) >>>
      0
    );
  }

  private setU32(at: number, v: number): void {
    const b = this.buf;
    const o = this.offset + at;
    b[o] = (v >>> 24) & 0xff;
    b[o + 1] = (v >>> 16) & 0xff;
    b[o + 2] = (v >>> 8) & 0xff;
    b[o + 3] = v & 0xff;
  }
}
