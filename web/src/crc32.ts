/**
 * CRC-32 (IEEE 802.3, as zlib), incremental: the page checks that B received exactly A's bytes
 * without keeping a copy, and without node:crypto, which a browser bundle cannot have.
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export class Crc32 {
  private c = 0xffffffff;

  update(bytes: Uint8Array): this {
    let c = this.c;
    for (let i = 0; i < bytes.length; i++) c = (TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
    this.c = c;
    return this;
  }

  /** Eight lowercase hex digits. */
  hex(): string {
    return ((this.c ^ 0xffffffff) >>> 0).toString(16).padStart(8, '0');
  }
}

export function crc32(bytes: Uint8Array): string {
  return new Crc32().update(bytes).hex();
}
