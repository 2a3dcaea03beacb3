/**
 * The BitTorrent test helper against itself, over utpx on loopback: so a failure in the libtorrent
 * interop suite points at the transport or at libtorrent, not at the helper.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Socket, UtpSocket } from '../../src/io/index.js';
import { Prng } from '../../src/sim/prng.js';
import { bdecode, bencode, leech, makeTorrent, parseTorrent, peerId, seed, sha1 } from './bittorrent.js';
import { closed } from './streams.js';

function bytes(seed: number, n: number): Buffer {
  const p = new Prng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(p.next() * 256);
  return b;
}

describe('bencode', () => {
  it('encodes the BEP 3 examples, with dictionary keys sorted', () => {
    expect(bencode({ spam: Buffer.from('eggs'), cow: Buffer.from('moo') }).toString()).toBe('d3:cow3:moo4:spam4:eggse');
    expect(bencode([Buffer.from('spam'), -3, 0]).toString()).toBe('l4:spami-3ei0ee');
    expect(bencode({}).toString()).toBe('de');
  });

  it('decodes what it encodes', () => {
    const v = { a: [1, -2, Buffer.from([0, 255])], 'piece length': 16384, z: { y: Buffer.alloc(0) } };
    expect(bdecode(bencode(v))).toEqual(v);
  });

  it('rejects malformed input', () => {
    for (const bad of ['i03e', 'i-0e', 'ie', '5:abc', 'l', 'd3:cowe', 'i1ei2e', 'di1ei2ee', 'x']) {
      expect(() => bdecode(Buffer.from(bad)), bad).toThrow(SyntaxError);
    }
  });
});

describe('.torrent files', () => {
  it('parseTorrent reads back what makeTorrent wrote, info hash included', () => {
    const data = bytes(1, 100_000);
    const { torrent, file } = makeTorrent(data, 'x.bin', 32 * 1024);
    expect(torrent.pieces).toHaveLength(4);
    expect(torrent.pieces[3]).toEqual(sha1(data.subarray(3 * 32 * 1024)));
    expect(parseTorrent(file)).toEqual(torrent);
  });

  it('hashes the info dictionary as stored, even when it is not canonical', () => {
    const { file } = makeTorrent(bytes(2, 1000), 'y.bin', 16 * 1024);
    const info = bencode((bdecode(file) as { info: Buffer }).info);
    // Same dictionary, keys out of order: a client hashes these bytes, not a re-encoding.
    const text = info.toString('latin1').replace('6:lengthi1000e', '');
    const odd = Buffer.from(`d4:info${text.slice(0, -1)}6:lengthi1000eee`, 'latin1');
    expect(parseTorrent(odd).infoHash).toEqual(sha1(Buffer.from(`${text.slice(0, -1)}6:lengthi1000ee`, 'latin1')));
    expect(parseTorrent(odd).infoHash).not.toEqual(sha1(info));
  });
});

describe('seed and leech over utpx', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function pair(serve: (s: Socket) => void): Promise<Socket> {
    const server = createServer(serve);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = new UtpSocket();
    cleanup.push(async () => {
      for (const s of [...server.connections, ...client.connections]) s.destroy();
      await Promise.all([
        new Promise<void>((r) => server.close(() => r())),
        new Promise<void>((r) => client.close(() => r())),
      ]);
    });
    return client.connect(server.address().port);
  }

  it('moves a torrent whose last piece is short, every piece checked', async () => {
    const data = bytes(3, 1_000_000);
    const { torrent } = makeTorrent(data, 'z.bin', 64 * 1024);
    let served: ReturnType<typeof seed> | undefined;
    const c = await pair((s) => {
      served = seed(s, torrent, data, { id: peerId(1) });
    });
    const got = await leech(c, torrent, { id: peerId(2), pipeline: 8 });
    expect(got.data.equals(data)).toBe(true);
    expect(got.remoteId).toEqual(peerId(1));
    c.end();
    const result = await (served as ReturnType<typeof seed>);
    expect(result.remoteId).toEqual(peerId(2));
    expect(result.bytes).toBe(data.length);
    expect(result.peerHave.size).toBe(torrent.pieces.length);
    await closed(c);
  });

  it('the leecher rejects a piece that fails its SHA-1 check', async () => {
    const data = bytes(4, 200_000);
    const { torrent } = makeTorrent(data, 'bad.bin', 64 * 1024);
    const corrupt = Buffer.from(data);
    corrupt[150_000] = (corrupt[150_000] as number) ^ 1;
    const c = await pair((s) => {
      seed(s, torrent, corrupt, { id: peerId(3) }).catch(() => {});
    });
    await expect(leech(c, torrent, { id: peerId(4) })).rejects.toThrow('piece 2 failed its SHA-1 check');
  });
});
