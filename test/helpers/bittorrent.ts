/**
 * Just enough BitTorrent (BEP 3) to move a single-file torrent over any Duplex, for interop tests
 * against real BitTorrent clients: bencode, .torrent files, the handshake and the peer-wire
 * messages a plain (no fast extension, no extension protocol) peer needs. A seeder serves pieces
 * from a Buffer; a leecher requests every block, checks every piece's SHA-1 and returns the file.
 *
 * Not a client: one peer per call, no piece picking beyond "in order", no choking of our own.
 */
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';

// ---------------------------------------------------------------- bencode

/** A bencoded value; strings are encoded as UTF-8 and always decode as Buffers. */
export type BValue = number | string | Buffer | BValue[] | { [key: string]: BValue };

export function bencode(v: BValue): Buffer {
  const out: Buffer[] = [];
  const walk = (x: BValue): void => {
    if (typeof x === 'number') {
      if (!Number.isSafeInteger(x)) throw new RangeError(`bencode: ${x} is not an integer`);
      out.push(Buffer.from(`i${x}e`));
    } else if (typeof x === 'string' || Buffer.isBuffer(x)) {
      const b = typeof x === 'string' ? Buffer.from(x) : x;
      out.push(Buffer.from(`${b.length}:`), b);
    } else if (Array.isArray(x)) {
      out.push(Buffer.from('l'));
      for (const e of x) walk(e);
      out.push(Buffer.from('e'));
    } else {
      out.push(Buffer.from('d'));
      // Keys sorted as raw byte strings, as BEP 3 requires (the info hash depends on it).
      const keys = Object.keys(x).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      for (const k of keys) {
        walk(k);
        walk(x[k] as BValue);
      }
      out.push(Buffer.from('e'));
    }
  };
  walk(v);
  return Buffer.concat(out);
}

/**
 * Decodes one bencoded value that fills `buf` exactly; dictionary keys become UTF-8 strings.
 * `onTopLevelKey` learns where each value of the top-level dictionary lies in `buf`.
 */
export function bdecode(buf: Buffer, onTopLevelKey?: (key: string, start: number, end: number) => void): BValue {
  let at = 0;
  let depth = 0;
  const fail = (why: string): never => {
    throw new SyntaxError(`bdecode at ${at}: ${why}`);
  };
  const readInt = (end: string): number => {
    const stop = buf.indexOf(end, at);
    if (stop < 0) fail(`unterminated integer`);
    const text = buf.toString('latin1', at, stop);
    if (!/^(0|-?[1-9][0-9]*)$/.test(text)) fail(`bad integer ${JSON.stringify(text)}`);
    at = stop + 1;
    return Number(text);
  };
  const value = (): BValue => {
    const c = buf[at];
    if (c === undefined) return fail('unexpected end');
    if (c === 0x69 /* i */) {
      at++;
      return readInt('e');
    }
    if (c === 0x6c /* l */) {
      at++;
      const list: BValue[] = [];
      while (buf[at] !== 0x65 /* e */) list.push(value());
      at++;
      return list;
    }
    if (c === 0x64 /* d */) {
      at++;
      depth++;
      const dict: { [key: string]: BValue } = {};
      while (buf[at] !== 0x65) {
        const key = value();
        if (!Buffer.isBuffer(key)) fail('dictionary key is not a string');
        const name = (key as Buffer).toString();
        const start = at;
        dict[name] = value();
        if (depth === 1) onTopLevelKey?.(name, start, at);
      }
      at++;
      depth--;
      return dict;
    }
    if (c >= 0x30 && c <= 0x39) {
      const n = readInt(':');
      if (at + n > buf.length) fail('string runs past the end');
      const s = buf.subarray(at, at + n);
      at += n;
      return s;
    }
    return fail(`unexpected byte 0x${c.toString(16)}`);
  };
  const v = value();
  if (at !== buf.length) fail('trailing bytes');
  return v;
}

// ---------------------------------------------------------------- .torrent files

export interface Torrent {
  name: string;
  length: number;
  pieceLength: number;
  /** SHA-1 of each piece, 20 bytes each. */
  pieces: Buffer[];
  /** SHA-1 of the bencoded info dictionary. */
  infoHash: Buffer;
}

/** The 16 KiB block every client requests. */
export const BLOCK = 16 * 1024;

export function pieceSize(t: Torrent, index: number): number {
  return Math.min(t.pieceLength, t.length - index * t.pieceLength);
}

/** A single-file, v1 torrent of `data`, and the .torrent file's bytes (no tracker: peers are added by hand). */
export function makeTorrent(data: Buffer, name: string, pieceLength = 256 * 1024): { torrent: Torrent; file: Buffer } {
  const pieces: Buffer[] = [];
  for (let at = 0; at < data.length; at += pieceLength) pieces.push(sha1(data.subarray(at, at + pieceLength)));
  const info = { length: data.length, name, 'piece length': pieceLength, pieces: Buffer.concat(pieces) };
  const file = bencode({ info, 'created by': 'utpx tests' });
  return { torrent: { name, length: data.length, pieceLength, pieces, infoHash: sha1(bencode(info)) }, file };
}

/** Reads a single-file torrent. */
export function parseTorrent(file: Buffer): Torrent {
  // The info hash is over the info dictionary's bytes as stored: re-encoding would hide a
  // non-canonical file.
  let infoSpan: Buffer | undefined;
  const top = bdecode(file, (key, start, end) => {
    if (key === 'info') infoSpan = file.subarray(start, end);
  });
  const info = isDict(top) ? top.info : undefined;
  if (!isDict(info)) throw new SyntaxError('torrent has no info dictionary');
  const { name, length } = info;
  const pieceLength = info['piece length'];
  const pieces = info.pieces;
  if (!Buffer.isBuffer(name) || typeof length !== 'number' || typeof pieceLength !== 'number') {
    throw new SyntaxError('not a single-file torrent');
  }
  if (!Buffer.isBuffer(pieces) || pieces.length % 20 !== 0) throw new SyntaxError('bad pieces field');
  const hashes: Buffer[] = [];
  for (let at = 0; at < pieces.length; at += 20) hashes.push(pieces.subarray(at, at + 20));
  if (hashes.length !== Math.ceil(length / pieceLength)) throw new SyntaxError('piece count does not match length');
  return { name: name.toString(), length, pieceLength, pieces: hashes, infoHash: sha1(infoSpan as Buffer) };
}

function isDict(v: BValue | undefined): v is { [key: string]: BValue } {
  return v !== undefined && typeof v === 'object' && !Buffer.isBuffer(v) && !Array.isArray(v);
}

export function sha1(b: Uint8Array): Buffer {
  return createHash('sha1').update(b).digest();
}

// ---------------------------------------------------------------- peer wire

const PROTOCOL = Buffer.from('BitTorrent protocol');
const HANDSHAKE_LENGTH = 1 + PROTOCOL.length + 8 + 20 + 20;

export const MSG = {
  choke: 0,
  unchoke: 1,
  interested: 2,
  notInterested: 3,
  have: 4,
  bitfield: 5,
  request: 6,
  piece: 7,
  cancel: 8,
} as const;

/** A peer id: an Azureus-style client tag and a number, so each test peer is distinct. */
export function peerId(n: number): Buffer {
  return Buffer.from(`-UX0001-${String(n).padStart(12, '0')}`);
}

function handshake(infoHash: Buffer, id: Buffer): Buffer {
  // Reserved bytes all zero: no extension protocol (bit 20), no fast extension, no DHT, so the
  // peer sends only BEP 3 messages.
  return Buffer.concat([Buffer.of(PROTOCOL.length), PROTOCOL, Buffer.alloc(8), infoHash, id]);
}

function message(id: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat([Buffer.of(id), ...parts]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

function u32s(...xs: number[]): Buffer {
  const b = Buffer.alloc(4 * xs.length);
  for (let i = 0; i < xs.length; i++) b.writeUInt32BE(xs[i] as number, 4 * i);
  return b;
}

/** Largest message we accept: a piece message carrying one block, with room for a 128 KiB request. */
const MAX_MESSAGE = 9 + 128 * 1024;

/**
 * Splits a byte stream into the handshake, then length-prefixed messages. Chunks are kept as they
 * arrive and joined only for the bytes of one message, so a 16 KiB block built from 1.4 KiB
 * datagrams is copied once.
 */
class Framer {
  private chunks: Buffer[] = [];
  private length = 0;
  private gotHandshake = false;

  constructor(
    private readonly onHandshake: (infoHash: Buffer, id: Buffer) => void,
    private readonly onMessage: (id: number, payload: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    for (;;) {
      if (!this.gotHandshake) {
        if (this.length < HANDSHAKE_LENGTH) return;
        const h = this.take(HANDSHAKE_LENGTH);
        if (h[0] !== PROTOCOL.length || !h.subarray(1, 20).equals(PROTOCOL)) {
          throw new Error(`not a BitTorrent handshake: ${h.subarray(0, 20).toString('hex')}`);
        }
        this.gotHandshake = true;
        this.onHandshake(h.subarray(28, 48), h.subarray(48, 68));
        continue;
      }
      if (this.length < 4) return;
      const len = this.peek4();
      if (len > MAX_MESSAGE) throw new Error(`message of ${len} bytes`);
      if (this.length < 4 + len) return;
      const m = this.take(4 + len);
      if (len > 0) this.onMessage(m[4] as number, m.subarray(5)); // length 0 is a keep-alive
    }
  }

  private peek4(): number {
    const first = this.chunks[0] as Buffer;
    if (first.length >= 4) return first.readUInt32BE(0);
    return Buffer.concat(this.chunks).readUInt32BE(0);
  }

  private take(n: number): Buffer {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const c = this.chunks[0] as Buffer;
      if (c.length <= need) {
        parts.push(c);
        this.chunks.shift();
        need -= c.length;
      } else {
        parts.push(c.subarray(0, need));
        this.chunks[0] = c.subarray(need);
        need = 0;
      }
    }
    this.length -= n;
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }
}

export interface SeedResult {
  /** Blocks sent and their payload bytes. */
  blocks: number;
  bytes: number;
  /** Pieces the peer announced with `have` (it hash-checked them, if it is a real client). */
  peerHave: Set<number>;
  /** The remote peer id from its handshake. */
  remoteId: Buffer;
}

export interface SeedOptions {
  id: Buffer;
  /**
   * Whether to wait for the peer's handshake before sending ours (the accepting side of a
   * connection: it learns which torrent is wanted first). Default true.
   */
  waitForHandshake?: boolean;
}

/**
 * Serve `data` as torrent `t` on `sock` until the peer closes it. Unchokes the peer as soon as it
 * is interested; answers every valid request in order. Resolves when the stream ends.
 */
export function seed(sock: Duplex, t: Torrent, data: Buffer, opts: SeedOptions): Promise<SeedResult> {
  return new Promise((resolve, reject) => {
    const result: SeedResult = { blocks: 0, bytes: 0, peerHave: new Set(), remoteId: Buffer.alloc(0) };
    const numPieces = t.pieces.length;
    let sentHandshake = false;
    const sendHandshake = (): void => {
      if (sentHandshake) return;
      sentHandshake = true;
      sock.write(handshake(t.infoHash, opts.id));
      // A full bitfield, high bit first; spare bits at the end stay zero as BEP 3 requires.
      const bits = Buffer.alloc(Math.ceil(numPieces / 8));
      for (let i = 0; i < numPieces; i++) bits[i >> 3] = (bits[i >> 3] as number) | (0x80 >> (i & 7));
      sock.write(message(MSG.bitfield, bits));
    };
    const fail = (err: Error): void => {
      sock.destroy(err);
      reject(err);
    };
    const framer = new Framer(
      (infoHash, id) => {
        if (!infoHash.equals(t.infoHash)) throw new Error(`peer wants torrent ${infoHash.toString('hex')}`);
        result.remoteId = Buffer.from(id);
        sendHandshake();
      },
      (id, payload) => {
        switch (id) {
          case MSG.interested:
            sock.write(message(MSG.unchoke));
            break;
          case MSG.have:
            result.peerHave.add(payload.readUInt32BE(0));
            break;
          case MSG.request: {
            const [index, begin, length] = [payload.readUInt32BE(0), payload.readUInt32BE(4), payload.readUInt32BE(8)];
            if (index >= numPieces || length === 0 || length > 128 * 1024 || begin + length > pieceSize(t, index)) {
              throw new Error(`invalid request ${index}/${begin}/${length}`);
            }
            const from = index * t.pieceLength + begin;
            const ok = sock.write(message(MSG.piece, u32s(index, begin), data.subarray(from, from + length)));
            result.blocks++;
            result.bytes += length;
            // Backpressure: stop reading requests until the transport has taken what we queued.
            if (!ok && !sock.isPaused()) {
              sock.pause();
              sock.once('drain', () => sock.resume());
            }
            break;
          }
          default:
            // choke/unchoke/not interested/cancel (we answer at once, nothing to cancel), bitfield, unknown ids.
            break;
        }
      },
    );
    sock.on('data', (chunk: Buffer) => {
      try {
        framer.push(chunk);
      } catch (err) {
        fail(err as Error);
      }
    });
    sock.once('end', () => {
      sock.end();
      resolve(result);
    });
    sock.once('error', reject);
    if (opts.waitForHandshake === false) sendHandshake();
  });
}

export interface LeechOptions {
  id: Buffer;
  /** Requests kept outstanding (default 64, i.e. 1 MiB). */
  pipeline?: number;
}

export interface LeechResult {
  data: Buffer;
  remoteId: Buffer;
  /** Times the seeder choked us mid-transfer (its requests are then lost; we ask again). */
  chokes: number;
}

/**
 * Download torrent `t` from the peer on `sock`: handshake, interested, then keep `pipeline` block
 * requests outstanding. Each piece's SHA-1 is checked as it completes; a mismatch rejects. Sends
 * `have` for each verified piece. Resolves with the whole file once every piece is in (the caller
 * decides when to close the stream).
 */
export function leech(sock: Duplex, t: Torrent, opts: LeechOptions): Promise<LeechResult> {
  return new Promise((resolve, reject) => {
    const pipeline = opts.pipeline ?? 64;
    const numPieces = t.pieces.length;
    const data = Buffer.alloc(t.length);
    const blocksLeft = t.pieces.map((_, i) => Math.ceil(pieceSize(t, i) / BLOCK));
    const received = new Set<number>(); // block numbers: piece * blocksPerPiece + block
    const blocksPerPiece = Math.ceil(t.pieceLength / BLOCK);
    // Every block to ask for, in order; choked-away requests go back to the front.
    let queue: number[] = [];
    for (let p = 0; p < numPieces; p++)
      for (let b = 0; b < (blocksLeft[p] as number); b++) queue.push(p * blocksPerPiece + b);
    const outstanding = new Set<number>();
    const peerHas = new Uint8Array(numPieces);
    let piecesDone = 0;
    let choked = true;
    let remoteId = Buffer.alloc(0);
    let chokes = 0;
    let settled = false;

    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      sock.destroy(err);
      reject(err);
    };
    const fill = (): void => {
      if (choked) return;
      const skipped: number[] = [];
      while (outstanding.size < pipeline && queue.length > 0) {
        const block = queue.shift() as number;
        const piece = Math.floor(block / blocksPerPiece);
        if (peerHas[piece] !== 1) {
          skipped.push(block);
          continue;
        }
        const begin = (block % blocksPerPiece) * BLOCK;
        const length = Math.min(BLOCK, pieceSize(t, piece) - begin);
        outstanding.add(block);
        sock.write(message(MSG.request, u32s(piece, begin, length)));
      }
      queue = skipped.concat(queue);
    };
    const framer = new Framer(
      (infoHash, id) => {
        if (!infoHash.equals(t.infoHash)) throw new Error(`peer answered for torrent ${infoHash.toString('hex')}`);
        remoteId = Buffer.from(id);
      },
      (id, payload) => {
        switch (id) {
          case MSG.choke:
            if (!choked) chokes++;
            choked = true;
            // Without the fast extension a choke drops every pending request: ask again later.
            queue = [...outstanding].sort((a, b) => a - b).concat(queue);
            outstanding.clear();
            break;
          case MSG.unchoke:
            choked = false;
            fill();
            break;
          case MSG.bitfield:
            for (let i = 0; i < numPieces; i++) peerHas[i] = ((payload[i >> 3] as number) >> (7 - (i & 7))) & 1;
            fill();
            break;
          case MSG.have:
            peerHas[payload.readUInt32BE(0)] = 1;
            fill();
            break;
          case MSG.piece: {
            const [index, begin] = [payload.readUInt32BE(0), payload.readUInt32BE(4)];
            const block = index * blocksPerPiece + begin / BLOCK;
            const body = payload.subarray(8);
            // A block we did not ask for (or got already, after a choke) is ignored.
            if (!outstanding.delete(block) || received.has(block)) break;
            received.add(block);
            body.copy(data, index * t.pieceLength + begin);
            blocksLeft[index] = (blocksLeft[index] as number) - 1;
            if (blocksLeft[index] === 0) {
              const start = index * t.pieceLength;
              const got = sha1(data.subarray(start, start + pieceSize(t, index)));
              if (!got.equals(t.pieces[index] as Buffer)) throw new Error(`piece ${index} failed its SHA-1 check`);
              piecesDone++;
              sock.write(message(MSG.have, u32s(index)));
            }
            if (piecesDone === numPieces) {
              settled = true;
              sock.write(message(MSG.notInterested));
              resolve({ data, remoteId, chokes });
              return;
            }
            fill();
            break;
          }
          default:
            // interested/not interested (we serve nothing), request, cancel, and ids we do not know.
            break;
        }
      },
    );
    sock.on('data', (chunk: Buffer) => {
      if (settled) return;
      try {
        framer.push(chunk);
      } catch (err) {
        fail(err as Error);
      }
    });
    sock.once('end', () => fail(new Error(`peer closed with ${piecesDone}/${numPieces} pieces`)));
    sock.once('error', (err) => fail(err));
    sock.write(handshake(t.infoHash, opts.id));
    sock.write(message(MSG.interested));
  });
}
