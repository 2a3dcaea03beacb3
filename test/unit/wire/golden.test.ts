/**
 * Datagrams captured from a libutp ↔ libutp session (scripts/capture-golden.cjs): the client sent
 * 6000 patterned bytes and end(), the server answered with 3000 and end(); the relay dropped the
 * first transmission of one early client DATA packet, so the server sent selective ACKs.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decode, encode, type Packet } from '../../../src/wire/codec.js';
import { ST_DATA, ST_FIN, ST_STATE, ST_SYN } from '../../../src/wire/constants.js';
import { seqAdd, seqDiff } from '../../../src/wire/seq.js';

interface Captured {
  dir: 'c2s' | 's2c';
  hex: string;
}

const session: Captured[] = JSON.parse(
  readFileSync(new URL('../../fixtures/golden/libutp-session.json', import.meta.url), 'utf8'),
);

/** Must match the byte pattern in scripts/capture-golden.cjs. */
function pattern(n: number, salt: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + salt) & 0xff;
  return b;
}

/** Reads an unsigned big-endian field straight from the hex, independent of the codec. */
function hexField(hex: string, byteOffset: number, size: number): number {
  return Number.parseInt(hex.slice(2 * byteOffset, 2 * (byteOffset + size)), 16);
}

const decoded = session.map(({ dir, hex }) => {
  const bytes = new Uint8Array(Buffer.from(hex, 'hex'));
  const r = decode(bytes);
  return { dir, hex, bytes, packet: r.ok ? r.packet : undefined, error: r.ok ? undefined : r.error.code };
});

function packets(dir?: 'c2s' | 's2c'): { dir: string; hex: string; packet: Packet }[] {
  return decoded
    .filter((d) => dir === undefined || d.dir === dir)
    .map((d) => ({ dir: d.dir, hex: d.hex, packet: d.packet as Packet }));
}

/** Payloads of a direction's DATA packets, retransmissions dropped, in sequence order from `first`. */
function reassemble(dir: 'c2s' | 's2c', first: number): Uint8Array {
  const bySeq = new Map<number, Uint8Array>();
  for (const { packet } of packets(dir)) if (packet.type === ST_DATA) bySeq.set(packet.seqNr, packet.payload);
  const parts: Uint8Array[] = [];
  for (let s = first; bySeq.has(s); s = seqAdd(s, 1)) parts.push(bySeq.get(s) as Uint8Array);
  expect(parts.length).toBe(bySeq.size);
  return Buffer.concat(parts);
}

describe('libutp golden session', () => {
  it('has a plausible number of datagrams in both directions', () => {
    expect(session.length).toBeGreaterThan(10);
    expect(session.some((d) => d.dir === 'c2s')).toBe(true);
    expect(session.some((d) => d.dir === 's2c')).toBe(true);
  });

  it('every captured datagram decodes', () => {
    for (const d of decoded) expect(d.error, d.hex).toBeUndefined();
  });

  it('re-encoding every decoded packet reproduces the captured bytes exactly', () => {
    for (const d of decoded) {
      const p = d.packet as Packet;
      expect(Buffer.from(encode(p)).toString('hex')).toBe(d.hex);
    }
  });

  it('the handshake follows BEP 29: SYN carries recv id, client then sends recv id + 1, server the SYN id', () => {
    const [syn, ...clientRest] = packets('c2s');
    const server = packets('s2c');
    expect(syn?.packet.type).toBe(ST_SYN);
    expect(syn?.packet.payload.length).toBe(0);
    expect(syn?.packet.ackNr).toBe(0);
    const recvId = syn?.packet.connectionId as number;
    expect(clientRest.length).toBeGreaterThan(0);
    for (const { packet } of clientRest) expect(packet.connectionId).toBe(seqAdd(recvId, 1));
    expect(server.length).toBeGreaterThan(0);
    for (const { packet } of server) expect(packet.connectionId).toBe(recvId);
    expect(packets().filter((p) => p.packet.type === ST_SYN)).toHaveLength(1);

    // The server's first reply acknowledges the SYN.
    const synAck = server[0]?.packet as Packet;
    expect(synAck.type).toBe(ST_STATE);
    expect(synAck.ackNr).toBe(syn?.packet.seqNr);
    // The client's data starts right after its SYN. libutp does not consume a sequence number for
    // the SYN-ACK: the client acks synAck.seq − 1 and the server's first DATA reuses synAck.seq.
    const clientData = clientRest.filter((p) => p.packet.type === ST_DATA).map((p) => p.packet);
    expect(Math.min(...clientData.map((p) => seqDiff(p.seqNr, syn?.packet.seqNr as number)))).toBe(1);
    expect(clientData[0]?.ackNr).toBe(seqAdd(synAck.seqNr, -1));
    const serverData = server.filter((p) => p.packet.type === ST_DATA).map((p) => p.packet);
    expect(serverData[0]?.seqNr).toBe(synAck.seqNr);
  });

  it('contains STATE, DATA and FIN from both sides', () => {
    for (const dir of ['c2s', 's2c'] as const) {
      const types = new Set(packets(dir).map((p) => p.packet.type));
      expect(types.has(ST_STATE), dir).toBe(true);
      expect(types.has(ST_DATA), dir).toBe(true);
      expect(types.has(ST_FIN), dir).toBe(true);
    }
  });

  it('DATA payloads reassemble into exactly the bytes each side wrote', () => {
    const syn = packets('c2s')[0]?.packet as Packet;
    const synAck = packets('s2c')[0]?.packet as Packet;
    expect(Buffer.from(reassemble('c2s', seqAdd(syn.seqNr, 1))).equals(pattern(6000, 1))).toBe(true);
    expect(Buffer.from(reassemble('s2c', synAck.seqNr)).equals(pattern(3000, 2))).toBe(true);
  });

  it('a STATE carries a SACK whose bits name packets the client had sent, and not ack_nr + 1', () => {
    const withSack = decoded.flatMap((d, i) => (d.packet?.sack ? [{ i, p: d.packet }] : []));
    expect(withSack.length).toBeGreaterThan(0);
    for (const { i, p } of withSack) {
      const sack = p.sack as Uint8Array;
      expect(p.type).toBe(ST_STATE);
      expect(decoded[i]?.dir).toBe('s2c');
      expect(sack.length).toBeGreaterThan(0);
      expect(sack.length % 4).toBe(0);
      const sentBefore = new Set(
        decoded
          .slice(0, i)
          .filter((d) => d.dir === 'c2s' && d.packet?.type === ST_DATA)
          .map((d) => d.packet?.seqNr),
      );
      // A SACK is only sent while ack_nr + 1 is missing.
      expect(sentBefore.has(seqAdd(p.ackNr, 1))).toBe(false);
      const acked: number[] = [];
      for (let k = 0; k < sack.length * 8; k++) {
        if (((sack[k >> 3] as number) >> (k & 7)) & 1) acked.push(seqAdd(p.ackNr, 2 + k));
      }
      expect(acked.length).toBeGreaterThan(0);
      for (const s of acked) expect(sentBefore.has(s)).toBe(true);
    }
  });

  it('decode agrees with a by-hand big-endian read of the SYN, a DATA and a SACK packet', () => {
    const picks = [
      decoded.find((d) => d.packet?.type === ST_SYN),
      decoded.find((d) => d.packet?.type === ST_DATA && d.dir === 'c2s'),
      decoded.find((d) => d.packet?.sack !== undefined),
    ];
    for (const d of picks) {
      expect(d).toBeDefined();
      const { hex, packet } = d as { hex: string; packet: Packet };
      expect(packet.type).toBe(Number.parseInt(hex[0] as string, 16));
      expect(Number.parseInt(hex[1] as string, 16)).toBe(1);
      expect(packet.connectionId).toBe(hexField(hex, 2, 2));
      expect(packet.timestamp).toBe(hexField(hex, 4, 4));
      expect(packet.timestampDiff).toBe(hexField(hex, 8, 4));
      expect(packet.windowSize).toBe(hexField(hex, 12, 4));
      expect(packet.seqNr).toBe(hexField(hex, 16, 2));
      expect(packet.ackNr).toBe(hexField(hex, 18, 2));
      const ext = hexField(hex, 1, 1);
      if (ext === 0) {
        expect(packet.sack).toBeUndefined();
        expect(Buffer.from(packet.payload).toString('hex')).toBe(hex.slice(40));
      } else {
        // libutp's SACK: one extension, type 1, next 0, length 4, bitmask, no payload.
        expect(ext).toBe(1);
        expect(hexField(hex, 20, 1)).toBe(0);
        const len = hexField(hex, 21, 1);
        expect(len).toBe(4);
        expect(Buffer.from(packet.sack as Uint8Array).toString('hex')).toBe(hex.slice(44, 44 + 2 * len));
        expect(packet.payload.length).toBe(0);
        expect(hex.length).toBe(2 * (22 + len));
      }
    }
  });
});
