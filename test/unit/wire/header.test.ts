import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HEADER_SIZE } from '../../../src/wire/constants.js';
import { PacketHeader } from '../../../src/wire/header.js';

const seed = Number(process.env.FC_SEED ?? 0x5eed);
const runs = { seed, numRuns: 300 };

type WideField = 'extension' | 'connectionId' | 'timestamp' | 'timestampDiff' | 'windowSize' | 'seqNr' | 'ackNr';

/** BEP 29 layout: byte offset and width of every whole-byte field. */
const FIELDS: readonly { name: WideField; at: number; size: 1 | 2 | 4 }[] = [
  { name: 'extension', at: 1, size: 1 },
  { name: 'connectionId', at: 2, size: 2 },
  { name: 'timestamp', at: 4, size: 4 },
  { name: 'timestampDiff', at: 8, size: 4 },
  { name: 'windowSize', at: 12, size: 4 },
  { name: 'seqNr', at: 16, size: 2 },
  { name: 'ackNr', at: 18, size: 2 },
];

/** Big-endian bytes of v, written out by hand so the test does not share code with the view. */
function beBytes(v: number, size: number): number[] {
  const out: number[] = [];
  for (let i = size - 1; i >= 0; i--) out.push(Math.floor(v / 256 ** i) % 256);
  return out;
}

function filled(len: number, byte: number): Uint8Array {
  return new Uint8Array(len).fill(byte);
}

describe('PacketHeader', () => {
  for (const offset of [0, 7]) {
    describe(`at offset ${offset}`, () => {
      for (const f of FIELDS) {
        it(`${f.name} writes ${f.size} big-endian byte(s) at ${f.at} and nothing else`, () => {
          const max = 256 ** f.size - 1;
          fc.assert(
            fc.property(fc.integer({ min: 0, max }), fc.integer({ min: 0, max: 255 }), (v, fill) => {
              const buf = filled(offset + HEADER_SIZE + 3, fill);
              const expected = buf.slice();
              const h = new PacketHeader(buf, offset);
              h[f.name] = v;
              expect(h[f.name]).toBe(v);
              expected.set(beBytes(v, f.size), offset + f.at);
              expect(Array.from(buf)).toEqual(Array.from(expected));
            }),
            runs,
          );
        });
      }

      it('reads fields in network byte order from hand-built bytes', () => {
        const buf = filled(offset + HEADER_SIZE, 0xee);
        buf.set(
          [0x41, 0x01, 0xbe, 0xef, 0x80, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x10, 0x00, 0x00],
          offset,
        );
        buf.set([0xff, 0xff, 0x00, 0x02], offset + 16);
        const h = new PacketHeader(buf, offset);
        expect(h.type).toBe(4);
        expect(h.version).toBe(1);
        expect(h.extension).toBe(1);
        expect(h.connectionId).toBe(0xbeef);
        // u32 fields must come back unsigned even with the top bit set.
        expect(h.timestamp).toBe(0x80000001);
        expect(h.timestampDiff).toBe(0xfffffffe);
        expect(h.windowSize).toBe(0x00100000);
        expect(h.seqNr).toBe(0xffff);
        expect(h.ackNr).toBe(2);
      });

      it('type and version share byte 0 without disturbing each other', () => {
        fc.assert(
          fc.property(
            fc.integer({ min: 0, max: 15 }),
            fc.integer({ min: 0, max: 15 }),
            fc.integer({ min: 0, max: 255 }),
            (type, version, fill) => {
              const buf = filled(offset + HEADER_SIZE, fill);
              const h = new PacketHeader(buf, offset);
              h.type = type;
              expect(h.version).toBe(fill & 0xf);
              expect(buf[offset]).toBe((type << 4) | (fill & 0xf));
              h.version = version;
              expect(h.type).toBe(type);
              expect(h.version).toBe(version);
              expect(buf[offset]).toBe((type << 4) | version);
              // Setting type again must keep the version nibble.
              h.type = (type + 1) & 0xf;
              expect(h.version).toBe(version);
              expect(buf[offset + 1]).toBe(fill);
              if (offset > 0) expect(buf[offset - 1]).toBe(fill);
            },
          ),
          runs,
        );
      });
    });
  }

  it('setting every field leaves each other field as set', () => {
    const buf = new Uint8Array(HEADER_SIZE);
    const h = new PacketHeader(buf);
    h.type = 2;
    h.version = 1;
    h.extension = 1;
    h.connectionId = 0xfffe;
    h.timestamp = 0xdeadbeef;
    h.timestampDiff = 0x01020304;
    h.windowSize = 0xffffffff;
    h.seqNr = 0x1234;
    h.ackNr = 0xabcd;
    expect(Buffer.from(buf).toString('hex')).toBe('2101fffedeadbeef01020304ffffffff1234abcd');
    expect([h.type, h.version, h.extension, h.connectionId]).toEqual([2, 1, 1, 0xfffe]);
    expect([h.timestamp, h.timestampDiff, h.windowSize, h.seqNr, h.ackNr]).toEqual([
      0xdeadbeef, 0x01020304, 0xffffffff, 0x1234, 0xabcd,
    ]);
  });

  it('complete reports whether 20 bytes remain from the offset', () => {
    expect(new PacketHeader(new Uint8Array(20)).complete).toBe(true);
    expect(new PacketHeader(new Uint8Array(19)).complete).toBe(false);
    expect(new PacketHeader(new Uint8Array(25), 5).complete).toBe(true);
    expect(new PacketHeader(new Uint8Array(25), 6).complete).toBe(false);
  });

  it('reset re-points the same view at another buffer and offset', () => {
    const a = new Uint8Array(HEADER_SIZE);
    const b = new Uint8Array(HEADER_SIZE + 4);
    a[17] = 9;
    b[4 + 17] = 42;
    const h = new PacketHeader(a);
    expect(h.seqNr).toBe(9);
    expect(h.reset(b, 4)).toBe(h);
    expect(h.seqNr).toBe(42);
    h.ackNr = 0x0102;
    expect(Array.from(b.subarray(22, 24))).toEqual([1, 2]);
    expect(Array.from(a.subarray(18, 20))).toEqual([0, 0]);
  });
});
