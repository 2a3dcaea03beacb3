import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Prng } from '../../../src/sim/prng.js';
import {
  createLayout,
  type DecodeErrorCode,
  type DecodeResult,
  decode,
  encode,
  encodedLength,
  type Packet,
  type PacketInit,
  scanPacket,
} from '../../../src/wire/codec.js';
import { HEADER_SIZE, type PacketType } from '../../../src/wire/constants.js';

const seed = Number(process.env.FC_SEED ?? 0x5eed);

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

const arbPacket: fc.Arbitrary<Packet> = fc.record({
  type: fc.constantFrom<PacketType>(0, 1, 2, 3, 4),
  connectionId: u16,
  timestamp: u32,
  timestampDiff: u32,
  windowSize: u32,
  seqNr: u16,
  ackNr: u16,
  sack: fc.option(
    fc.integer({ min: 1, max: 63 }).chain((n) => fc.uint8Array({ minLength: 4 * n, maxLength: 4 * n })),
    { nil: undefined },
  ),
  extensions: fc.array(
    fc.record({ type: fc.integer({ min: 2, max: 255 }), data: fc.uint8Array({ minLength: 0, maxLength: 255 }) }),
    { minLength: 0, maxLength: 3 },
  ),
  payload: fc.uint8Array({ minLength: 0, maxLength: 1500 }),
});

function bytes(v: Uint8Array | undefined): number[] | undefined {
  return v === undefined ? undefined : Array.from(v);
}

/** Field-by-field comparison; views are compared by their bytes. */
function expectSamePacket(actual: Packet, expected: PacketInit): void {
  expect(actual.type).toBe(expected.type);
  expect(actual.connectionId).toBe(expected.connectionId);
  expect(actual.timestamp).toBe(expected.timestamp ?? 0);
  expect(actual.timestampDiff).toBe(expected.timestampDiff ?? 0);
  expect(actual.windowSize).toBe(expected.windowSize ?? 0);
  expect(actual.seqNr).toBe(expected.seqNr);
  expect(actual.ackNr).toBe(expected.ackNr);
  expect(bytes(actual.sack)).toEqual(bytes(expected.sack));
  const exts = expected.extensions ?? [];
  expect(actual.extensions.length).toBe(exts.length);
  actual.extensions.forEach((e, i) => {
    expect(e.type).toBe(exts[i]?.type);
    expect(bytes(e.data)).toEqual(bytes(exts[i]?.data));
  });
  expect(bytes(actual.payload)).toEqual(bytes(expected.payload ?? new Uint8Array(0)));
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The first field where two packets differ, or null; cheap enough for the fuzz loop. */
function packetDiff(a: Packet, b: Packet): string | null {
  for (const k of ['type', 'connectionId', 'timestamp', 'timestampDiff', 'windowSize', 'seqNr', 'ackNr'] as const) {
    if (a[k] !== b[k]) return k;
  }
  if (!sameBytes(a.sack, b.sack)) return 'sack';
  if (!sameBytes(a.payload, b.payload)) return 'payload';
  if (a.extensions.length !== b.extensions.length) return 'extensions';
  for (let i = 0; i < a.extensions.length; i++) {
    const x = a.extensions[i] as Packet['extensions'][number];
    const y = b.extensions[i] as Packet['extensions'][number];
    if (x.type !== y.type || !sameBytes(x.data, y.data)) return `extension ${i}`;
  }
  return null;
}

function mustDecode(buf: Uint8Array): Packet {
  const r = decode(buf);
  if (!r.ok) throw new Error(`decode failed: ${r.error.code}`);
  return r.packet;
}

function expectError(buf: Uint8Array, code: DecodeErrorCode): void {
  const r = decode(buf);
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.error.type).toBe('error');
  expect(r.error.code).toBe(code);
  expect(r.error.message.length).toBeGreaterThan(0);
  expect(scanPacket(buf, createLayout())).toBe(code);
}

/** A 20-byte header with the given first two bytes; everything else zero. */
function header(b0: number, ext: number, extra: number[] = []): Uint8Array {
  const buf = new Uint8Array(HEADER_SIZE + extra.length);
  buf[0] = b0;
  buf[1] = ext;
  buf.set(extra, HEADER_SIZE);
  return buf;
}

describe('encode/decode round trip', () => {
  it('any valid packet decodes to what was encoded', () => {
    fc.assert(
      fc.property(arbPacket, (p) => {
        const wire = encode(p);
        expect(wire.length).toBe(encodedLength(p));
        expect(wire[0]).toBe((p.type << 4) | 1);
        expectSamePacket(mustDecode(wire), p);
      }),
      { seed, numRuns: 300 },
    );
  });

  it('scanPacket finds the SACK and payload where encode put them', () => {
    const layout = createLayout();
    fc.assert(
      fc.property(arbPacket, (p) => {
        const wire = encode(p);
        expect(scanPacket(wire, layout)).toBeNull();
        expect(layout.payloadOffset).toBe(wire.length - p.payload.length);
        expect(layout.hasUnknownExtensions).toBe(p.extensions.length > 0);
        if (p.sack) {
          // SACK goes first in the chain, so its data starts right after its 2-byte header.
          expect(layout.sackOffset).toBe(HEADER_SIZE + 2);
          expect(layout.sackLength).toBe(p.sack.length);
        } else {
          expect(layout.sackOffset).toBe(-1);
          expect(layout.sackLength).toBe(0);
        }
      }),
      { seed, numRuns: 200 },
    );
  });

  it('defaults omitted optional fields to zero / empty', () => {
    const p = mustDecode(encode({ type: 4, connectionId: 7, seqNr: 1, ackNr: 0 }));
    expectSamePacket(p, { type: 4, connectionId: 7, seqNr: 1, ackNr: 0 });
    expect(p.sack).toBeUndefined();
    expect(p.extensions).toEqual([]);
    expect(p.payload.length).toBe(0);
  });

  it('decodes a packet held in a view into a larger buffer', () => {
    const init: PacketInit = {
      type: 0,
      connectionId: 0x1234,
      timestamp: 0xfedcba98,
      seqNr: 0xffff,
      ackNr: 3,
      sack: Uint8Array.of(1, 2, 3, 4),
      payload: Uint8Array.of(9, 8, 7),
    };
    const wire = encode(init);
    const big = new Uint8Array(wire.length + 20).fill(0x55);
    big.set(wire, 10);
    const view = big.subarray(10, 10 + wire.length);
    const p = mustDecode(view);
    expectSamePacket(p, init);
    // The payload is a view of the datagram, not a copy.
    expect(p.payload.buffer).toBe(big.buffer);
  });
});

describe('encode into a caller buffer', () => {
  const init: PacketInit = {
    type: 2,
    connectionId: 0xabcd,
    timestamp: 1,
    timestampDiff: 2,
    windowSize: 3,
    seqNr: 4,
    ackNr: 5,
    sack: Uint8Array.of(0xf0, 0, 0, 1),
    extensions: [{ type: 9, data: Uint8Array.of(0xaa, 0xbb) }],
    payload: Uint8Array.of(1, 2, 3),
  };

  it('returns a view of exactly the written bytes at the offset and touches nothing else', () => {
    const fresh = encode(init);
    const out = new Uint8Array(fresh.length + 40).fill(0xff);
    const view = encode(init, out, 13);
    expect(view.buffer).toBe(out.buffer);
    expect(view.byteOffset).toBe(out.byteOffset + 13);
    expect(view.length).toBe(fresh.length);
    // Pre-filled 0xff must not leak into the type/version byte or anywhere else.
    expect(Array.from(view)).toEqual(Array.from(fresh));
    expect(out.subarray(0, 13).every((b) => b === 0xff)).toBe(true);
    expect(out.subarray(13 + fresh.length).every((b) => b === 0xff)).toBe(true);
  });

  it('fits a buffer of exactly the needed size, and refuses one byte less', () => {
    const n = encodedLength(init);
    expect(encode(init, new Uint8Array(n + 2), 2).length).toBe(n);
    expect(() => encode(init, new Uint8Array(n + 1), 2)).toThrow(RangeError);
  });

  it('rejects a SACK or extension it cannot represent', () => {
    const base: PacketInit = { type: 2, connectionId: 1, seqNr: 1, ackNr: 1 };
    for (const n of [0, 3, 5, 256]) {
      expect(() => encode({ ...base, sack: new Uint8Array(n) })).toThrow(RangeError);
    }
    expect(() => encode({ ...base, extensions: [{ type: 0, data: new Uint8Array(1) }] })).toThrow(RangeError);
    expect(() => encode({ ...base, extensions: [{ type: 256, data: new Uint8Array(1) }] })).toThrow(RangeError);
    expect(() => encode({ ...base, extensions: [{ type: 2, data: new Uint8Array(256) }] })).toThrow(RangeError);
    // Type 1 is SACK: passing it as an opaque extension would decode back as something else.
    expect(() => encode({ ...base, extensions: [{ type: 1, data: new Uint8Array(4) }] })).toThrow(RangeError);
  });
});

describe('decode errors', () => {
  it('TOO_SHORT for anything under 20 bytes', () => {
    expectError(new Uint8Array(0), 'TOO_SHORT');
    expectError(header(0x41, 0).subarray(0, 19), 'TOO_SHORT');
  });

  it('BAD_VERSION for a version other than 1', () => {
    expectError(header(0x42, 0), 'BAD_VERSION');
    expectError(header(0x40, 0), 'BAD_VERSION');
    expectError(header(0x0f, 0), 'BAD_VERSION');
  });

  it('UNKNOWN_TYPE for a type above ST_SYN', () => {
    expectError(header(0x51, 0), 'UNKNOWN_TYPE');
    expectError(header(0xf1, 0), 'UNKNOWN_TYPE');
  });

  it('EXTENSION_OVERRUN when the chain runs off the end', () => {
    // Extension announced, no room for its 2-byte header.
    expectError(header(0x21, 2), 'EXTENSION_OVERRUN');
    expectError(header(0x21, 2, [0]), 'EXTENSION_OVERRUN');
    // Header present, data shorter than its length.
    expectError(header(0x21, 2, [0, 10, 1, 2, 3, 4, 5]), 'EXTENSION_OVERRUN');
    expectError(header(0x21, 1, [0, 8, 1, 2, 3, 4]), 'EXTENSION_OVERRUN');
    // First extension fine, but it points to a second that is not there.
    expectError(header(0x21, 2, [7, 1, 0xaa]), 'EXTENSION_OVERRUN');
  });

  it('BAD_SACK_LENGTH for an empty SACK', () => {
    expectError(header(0x21, 1, [0, 0]), 'BAD_SACK_LENGTH');
    expectError(header(0x21, 1, [0, 0, 0xee]), 'BAD_SACK_LENGTH');
    // Also when the SACK is not first in the chain.
    expectError(header(0x21, 2, [1, 0, 0, 0]), 'BAD_SACK_LENGTH');
  });

  it('accepts the boundaries next to each error', () => {
    expect(decode(header(0x41, 0)).ok).toBe(true);
    expect(decode(header(0x01, 0)).ok).toBe(true);
    expect(decode(header(0x21, 1, [0, 1, 1])).ok).toBe(true);
    expect(decode(header(0x21, 1, [0, 4, 1, 2, 3, 4])).ok).toBe(true);
    expect(decode(header(0x21, 2, [0, 0])).ok).toBe(true);
  });
});

describe('SACK lengths other than multiples of 4', () => {
  // libtorrent (utp_stream.cpp, send_pkt) sends a SACK of (reorder span + 7) / 8 bytes, not the
  // multiple of 4 BEP 29 asks for; a decoder that insists on 4 drops every such ack.
  it.each([1, 2, 3, 5])('decodes a libtorrent-shaped SACK of %i byte(s) and finds the payload after it', (n) => {
    const mask = Array.from({ length: n }, (_, i) => 0x81 ^ i);
    const buf = header(0x21, 1, [0, n, ...mask, 0xde, 0xad]);
    const p = mustDecode(buf);
    expect(bytes(p.sack)).toEqual(mask);
    expect(bytes(p.payload)).toEqual([0xde, 0xad]);
    const layout = createLayout();
    expect(scanPacket(buf, layout)).toBeNull();
    expect(layout.sackOffset).toBe(HEADER_SIZE + 2);
    expect(layout.sackLength).toBe(n);
    expect(layout.payloadOffset).toBe(HEADER_SIZE + 2 + n);
  });

  it('decodes a 3-byte SACK followed by a close-reason extension (libtorrent on FIN)', () => {
    // libtorrent's close reason: extension type 3, 4 bytes (2 reserved, 2 reason).
    const buf = header(0x11, 1, [3, 3, 0b101, 0, 0x80, 0, 4, 0, 0, 0, 7]);
    const p = mustDecode(buf);
    expect(bytes(p.sack)).toEqual([0b101, 0, 0x80]);
    expect(p.extensions.map((e) => e.type)).toEqual([3]);
    expect(bytes(p.extensions[0]?.data)).toEqual([0, 0, 0, 7]);
    expect(p.payload.length).toBe(0);
  });

  it('the encoder still writes only multiples of 4 (libutp requires them)', () => {
    const base: PacketInit = { type: 2, connectionId: 1, seqNr: 1, ackNr: 1 };
    for (const n of [1, 2, 3, 5]) expect(() => encode({ ...base, sack: new Uint8Array(n) })).toThrow(RangeError);
  });
});

describe('unknown extensions', () => {
  it('are skipped, kept in wire order, and the payload starts after them', () => {
    const buf = header(0x01, 2, [
      ...[1, 8, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7], // type 2, 8 bytes, next is SACK
      ...[77, 4, 0b101, 0, 0, 0x80], // SACK, next is 77
      ...[255, 0], // type 77, empty, next is 255
      ...[0, 1, 0xfe], // type 255, one byte, end of chain
      ...Array.from(Buffer.from('hello')),
    ]);
    const p = mustDecode(buf);
    expect(Buffer.from(p.payload).toString()).toBe('hello');
    expect(bytes(p.sack)).toEqual([0b101, 0, 0, 0x80]);
    expect(p.extensions.map((e) => e.type)).toEqual([2, 77, 255]);
    expect(bytes(p.extensions[0]?.data)).toEqual([0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7]);
    expect(bytes(p.extensions[1]?.data)).toEqual([]);
    expect(bytes(p.extensions[2]?.data)).toEqual([0xfe]);
    const layout = createLayout();
    expect(scanPacket(buf, layout)).toBeNull();
    expect(layout.hasUnknownExtensions).toBe(true);
    expect(layout.payloadOffset).toBe(buf.length - 5);
  });

  it('an extension-only packet has an empty payload', () => {
    const p = mustDecode(header(0x21, 200, [0, 3, 1, 2, 3]));
    expect(p.payload.length).toBe(0);
    expect(p.extensions.map((e) => e.type)).toEqual([200]);
    expect(p.sack).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------

function padTo4(sack: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(sack.length / 4) * 4);
  out.set(sack);
  return out;
}

/** Seeded randomness to drive the fuzzer. */
function prng(seed: number): () => number {
  const p = new Prng(seed);
  return () => p.next();
}

const KNOWN_CODES = new Set<DecodeErrorCode>([
  'TOO_SHORT',
  'BAD_VERSION',
  'UNKNOWN_TYPE',
  'EXTENSION_OVERRUN',
  'BAD_SACK_LENGTH',
]);

describe('fuzz', () => {
  it('decode never throws and agrees with scanPacket and a naive header read on 100 000 inputs', () => {
    const fuzzSeed = Number(process.env.FUZZ_SEED ?? 0xc0dec);
    const rnd = prng(fuzzSeed);
    const int = (n: number) => Math.floor(rnd() * n);
    const randBytes = (n: number) => {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = int(256);
      return b;
    };

    // Valid encodings to mutate: varied extension chains and small payloads keep inputs short.
    const seeds: Uint8Array[] = [];
    for (let i = 0; i < 256; i++) {
      const extensions = [];
      for (let k = int(3); k > 0; k--) extensions.push({ type: 2 + int(254), data: randBytes(int(12)) });
      seeds.push(
        encode({
          type: int(5) as PacketType,
          connectionId: int(0x10000),
          timestamp: int(2 ** 32),
          timestampDiff: int(2 ** 32),
          windowSize: int(2 ** 32),
          seqNr: int(0x10000),
          ackNr: int(0x10000),
          sack: int(2) === 0 ? randBytes(4 * (1 + int(3))) : undefined,
          extensions,
          payload: randBytes(int(40)),
        }),
      );
    }

    function mutate(src: Uint8Array): Uint8Array {
      let b: Uint8Array = src.slice();
      for (let m = 1 + int(3); m > 0; m--) {
        switch (int(6)) {
          case 0: {
            // flip bits in one byte
            const at = int(b.length);
            if (b.length > 0) b[at] = (b[at] as number) ^ (1 + int(255));
            break;
          }
          case 1: // truncate
            b = b.subarray(0, int(b.length + 1));
            break;
          case 2: {
            // extend with random bytes
            const e = new Uint8Array(b.length + 1 + int(16));
            e.set(b);
            e.set(randBytes(e.length - b.length), b.length);
            b = e;
            break;
          }
          case 3: // rewrite the first extension type, the most sensitive byte
            if (b.length > 1) b[1] = int(4) === 0 ? int(256) : int(3);
            break;
          case 4: // rewrite an extension length byte near the header
            if (b.length > 21) b[21 + int(Math.min(8, b.length - 21))] = int(256);
            break;
          default: // fix up type/version to a valid one so deeper parsing is reached
            if (b.length > 0) b[0] = (int(5) << 4) | 1;
        }
      }
      return b;
    }

    const layout = createLayout();
    let okCount = 0;
    const started = performance.now();
    for (let i = 0; i < 100_000; i++) {
      const input = i % 4 === 0 ? randBytes(int(48)) : mutate(seeds[int(seeds.length)] as Uint8Array);
      const fail = (why: string) => {
        throw new Error(`fuzz seed=${fuzzSeed} i=${i}: ${why}; input=${Buffer.from(input).toString('hex')}`);
      };
      let r: DecodeResult;
      try {
        r = decode(input);
      } catch (e) {
        return fail(`decode threw ${String(e)}`);
      }
      const scanned = scanPacket(input, layout);
      if (r.ok) {
        okCount++;
        if (scanned !== null) fail(`scanPacket says ${scanned} but decode accepted`);
        const p = r.packet;
        const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
        if (p.type !== dv.getUint8(0) >> 4 || p.type > 4) fail('type');
        if ((dv.getUint8(0) & 0xf) !== 1) fail('version');
        if (p.connectionId !== dv.getUint16(2)) fail('connectionId');
        if (p.timestamp !== dv.getUint32(4)) fail('timestamp');
        if (p.timestampDiff !== dv.getUint32(8)) fail('timestampDiff');
        if (p.windowSize !== dv.getUint32(12)) fail('windowSize');
        if (p.seqNr !== dv.getUint16(16)) fail('seqNr');
        if (p.ackNr !== dv.getUint16(18)) fail('ackNr');
        if (p.sack && p.sack.length === 0) fail('sack length');
        if (p.payload.byteOffset + p.payload.length !== input.byteOffset + input.length) fail('payload end');
        if (p.payload.byteOffset - input.byteOffset !== layout.payloadOffset) fail('payload offset');
        // Re-encoding normalises the chain (SACK first, duplicates dropped, a SACK of any length
        // zero-padded to a multiple of 4, which acks the same seqs); that must be a fixed point.
        const expected = p.sack && p.sack.length % 4 !== 0 ? { ...p, sack: padTo4(p.sack) } : p;
        const again = decode(encode(expected));
        if (!again.ok) return fail(`re-encoded packet rejected: ${again.error.code}`);
        const diff = packetDiff(again.packet, expected);
        if (diff !== null) fail(`re-encode changed ${diff}`);
      } else {
        if (!KNOWN_CODES.has(r.error.code)) fail(`unknown code ${r.error.code}`);
        if (r.error.type !== 'error' || typeof r.error.message !== 'string') fail('error shape');
        if (scanned !== r.error.code) fail(`scanPacket says ${scanned}, decode says ${r.error.code}`);
      }
    }
    const ms = performance.now() - started;
    // The mutations must reach both outcomes often, or the fuzzer is not exploring anything.
    expect(okCount).toBeGreaterThan(10_000);
    expect(okCount).toBeLessThan(90_000);
    expect(ms).toBeLessThan(3000);
  });
});
