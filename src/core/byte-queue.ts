/**
 * The application's bytes waiting to be packetized: the chunks `write()` was given, kept by
 * reference (no copy until a packet is filled), consumed from the front in packet-sized pieces.
 */

const EMPTY = new Uint8Array(0);

export class ByteQueue {
  private readonly chunks: Uint8Array[] = [];
  /** Index of the first chunk not fully consumed. */
  private head = 0;
  /** Bytes of chunks[head] already consumed. */
  private offset = 0;
  private _bytes = 0;

  /** Bytes waiting. */
  get bytes(): number {
    return this._bytes;
  }

  /** Adds a chunk; the caller must not modify it afterwards. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this._bytes += chunk.length;
  }

  /** Puts chunks back in front of what waits, in order (bytes taken out again to be repacketized). */
  unshift(chunks: readonly Uint8Array[]): void {
    const q = this.chunks;
    if (this.offset > 0) {
      // The head chunk is partly consumed: what is left of it stays next after the new chunks.
      q[this.head] = (q[this.head] as Uint8Array).subarray(this.offset);
      this.offset = 0;
    }
    const nonEmpty = chunks.filter((c) => c.length > 0);
    q.splice(this.head, 0, ...nonEmpty);
    for (const c of nonEmpty) this._bytes += c.length;
  }

  /** Copies the next `n` bytes (n ≤ bytes) into `dst` at `at`, releasing the chunks consumed. */
  take(dst: Uint8Array, at: number, n: number): void {
    const q = this.chunks;
    this._bytes -= n;
    while (n > 0) {
      const chunk = q[this.head] as Uint8Array;
      const avail = chunk.length - this.offset;
      const take = Math.min(avail, n);
      dst.set(take === chunk.length ? chunk : chunk.subarray(this.offset, this.offset + take), at);
      at += take;
      n -= take;
      this.offset += take;
      if (this.offset === chunk.length) {
        q[this.head] = EMPTY; // let the chunk go
        this.head++;
        this.offset = 0;
      }
    }
    if (this.head === q.length) {
      q.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > q.length) {
      // Compact rarely, so the consumed prefix does not make the array grow without bound.
      q.splice(0, this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.chunks.length = 0;
    this.head = 0;
    this.offset = 0;
    this._bytes = 0;
  }
}
