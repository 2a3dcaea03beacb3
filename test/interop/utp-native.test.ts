/**
 * utpx against libutp (through utp-native, IPv4 only), in both roles, over real loopback UDP and
 * through the lossy relay. Every payload is seeded; a failure prints its seed.
 */
import { createHash } from 'node:crypto';
import { type EventEmitter, once } from 'node:events';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ConnectionError,
  connect,
  createServer,
  type Server,
  type Socket,
  UtpSocket,
} from '../../src/io/index.js';
import { seededBytes, sha256Hex } from '../helpers/bytes.js';
import { createRelay, type Relay } from '../helpers/relay.js';
import { closed, collect } from '../helpers/streams.js';

// ---------------------------------------------------------------- utp-native, as far as we use it

interface NativeSocket extends Duplex {
  remoteAddress: string;
  remotePort: number;
}

interface NativeUtp extends EventEmitter {
  setRecvBufferSize(n: number): number;
  setSendBufferSize(n: number): number;
  listen(port?: number, host?: string, onListening?: () => void): void;
  bind(port?: number, host?: string, onListening?: () => void): void;
  connect(port: number, host?: string): NativeSocket;
  address(): { address: string; port: number };
  close(onClose?: () => void): void;
  connections: NativeSocket[];
}

interface UtpNativeModule {
  (opts?: { allowHalfOpen?: boolean }): NativeUtp;
  createServer(onConnection?: (s: NativeSocket) => void): NativeUtp;
  connect(port: number, host?: string): NativeSocket;
}

const utpNative = createRequire(import.meta.url)('utp-native') as UtpNativeModule;

// ---------------------------------------------------------------- helpers

const MiB = 1024 * 1024;

const bytes = seededBytes;

const sha = sha256Hex;

/** SHA-256 and length of everything a stream delivers until 'end'. */
function digest(s: Duplex): Promise<{ sha: string; length: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let length = 0;
    s.on('data', (d: Buffer) => {
      h.update(d);
      length += d.length;
    });
    s.once('end', () => resolve({ sha: h.digest('hex'), length }));
    s.once('error', reject);
  });
}

function firstError(s: EventEmitter): Promise<Error & { code?: string }> {
  return once(s, 'error').then(([e]) => e as Error & { code?: string });
}

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/**
 * A utp-native server. `bigBuffers` raises its kernel buffers from the default 208 KiB to what utpx
 * uses (4 MiB): with the default, a burst from 100 connections overflows it and the test measures
 * retransmission timeouts (libutp against itself loses the same way) instead of interoperability.
 */
async function nativeServer(
  onConnection: (s: NativeSocket) => void,
  bigBuffers = false,
): Promise<{ server: NativeUtp; port: number }> {
  const server = utpNative.createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  if (bigBuffers) raiseBuffers(server);
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { server, port: server.address().port };
}

function raiseBuffers(sock: NativeUtp): void {
  sock.setRecvBufferSize(4 * MiB);
  sock.setSendBufferSize(4 * MiB);
}

async function utpxServer(onConnection?: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConnection);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(async () => {
    if (server.listening || server.connections.length > 0) {
      const done = once(server, 'close');
      server.close();
      for (const s of server.connections) s.destroy();
      await done;
    }
  });
  return { server, port: server.address().port };
}

async function relayTo(port: number, seed: number): Promise<Relay> {
  const relay = await createRelay({
    target: { address: '127.0.0.1', port },
    seed,
    loss: 0.02,
    duplicate: 0.01,
    reorder: 0.02,
    reorderDelayMs: 2,
  });
  cleanup.push(() => relay.close());
  return relay;
}

// ---------------------------------------------------------------- bulk transfer

describe('bulk transfer, 16 MiB', () => {
  it('utpx client → utp-native server', async () => {
    const seed = 101;
    const data = bytes(seed, 16 * MiB);
    let received: Promise<{ sha: string; length: number }> | undefined;
    const { port } = await nativeServer((s) => {
      received = digest(s);
      s.on('end', () => s.end());
    });
    const c = connect(port);
    c.resume();
    c.end(data);
    await closed(c);
    const got = await (received as Promise<{ sha: string; length: number }>);
    expect(got.length, `seed ${seed}`).toBe(data.length);
    expect(got.sha, `seed ${seed}`).toBe(sha(data));
    expect(c.stats().outcome).toBe('closed');
  });

  it('utp-native client → utpx server', async () => {
    const seed = 102;
    const data = bytes(seed, 16 * MiB);
    const { server, port } = await utpxServer();
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const c = utpNative.connect(port, '127.0.0.1');
    c.resume();
    c.end(data);
    const [s] = await accepted;
    const received = digest(s);
    s.on('end', () => s.end());
    const got = await received;
    expect(got.length, `seed ${seed}`).toBe(data.length);
    expect(got.sha, `seed ${seed}`).toBe(sha(data));
    await Promise.all([closed(s), closed(c)]);
    expect(s.stats().outcome).toBe('closed');
  });

  it('both directions at once, utpx client ↔ utp-native server', async () => {
    const seed = 103;
    const up = bytes(seed, 16 * MiB);
    const down = bytes(seed + 1, 16 * MiB);
    let received: Promise<{ sha: string; length: number }> | undefined;
    await nativeServer((s) => {
      received = digest(s);
      s.end(down);
    }).then(async ({ port }) => {
      const c = connect(port);
      const got = digest(c);
      c.end(up);
      const [d, u] = await Promise.all([got, closed(c).then(() => received)]);
      expect(d?.sha, `seed ${seed}`).toBe(sha(down));
      expect(u?.sha, `seed ${seed}`).toBe(sha(up));
    });
  });

  it('both directions at once, utp-native client ↔ utpx server', async () => {
    const seed = 104;
    const up = bytes(seed, 16 * MiB);
    const down = bytes(seed + 1, 16 * MiB);
    let received: Promise<{ sha: string; length: number }> | undefined;
    const { port } = await utpxServer((s) => {
      received = digest(s);
      s.end(down);
    });
    const c = utpNative.connect(port, '127.0.0.1');
    const got = digest(c);
    c.end(up);
    const d = await got;
    await closed(c);
    expect(d.sha, `seed ${seed}`).toBe(sha(down));
    expect((await received)?.sha, `seed ${seed}`).toBe(sha(up));
  });
});

// ---------------------------------------------------------------- lifecycle

describe('half-close', () => {
  it('utpx client ends; the utp-native server still answers, then ends', async () => {
    await nativeServer((s) => {
      collect(s).then((request) => {
        s.write(`reply to ${request}: `);
        s.end('done');
      });
    }).then(async ({ port }) => {
      const c = connect(port);
      c.end('question');
      expect(String(await collect(c))).toBe('reply to question: done');
      await closed(c);
      expect(c.stats().outcome).toBe('closed');
    });
  });

  it('utp-native client ends; the utpx server still answers, then ends', async () => {
    let serverSocket: Socket | undefined;
    const { port } = await utpxServer((s) => {
      serverSocket = s;
      collect(s).then((request) => {
        expect(s.writable).toBe(true);
        s.write(`reply to ${request}: `);
        s.end('done');
      });
    });
    const c = utpNative.connect(port, '127.0.0.1');
    c.end('question');
    expect(String(await collect(c))).toBe('reply to question: done');
    await closed(serverSocket as Socket);
    expect(serverSocket?.stats().outcome).toBe('closed');
  });
});

describe('reset', () => {
  it('utpx destroy(err) resets the utp-native peer', async () => {
    let peerError: Promise<Error & { code?: string }> | undefined;
    let arrived: () => void = () => {};
    const dataArrived = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const { port } = await nativeServer((s) => {
      peerError = firstError(s);
      s.once('data', () => arrived());
    });
    const c = connect(port);
    c.on('error', () => {});
    c.write('x');
    await dataArrived;
    c.destroy(new Error('abort'));
    const err = await (peerError as Promise<Error & { code?: string }>);
    expect(err.code).toBe('UTP_ECONNRESET');
  });

  it('a utpx server that destroys with an error resets the utp-native client (its port stays open)', async () => {
    const { port } = await utpxServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.destroy(new Error('abort')));
    });
    const c = utpNative.connect(port, '127.0.0.1');
    const codes: Array<string | undefined> = [];
    c.on('error', (e: Error & { code?: string }) => codes.push(e.code));
    // Keep packets coming after the RST: each would draw another RST, which libutp mishandles.
    const writer = setInterval(() => {
      if (!c.destroyed) c.write('more');
    }, 5);
    c.write('first');
    try {
      await closed(c);
      expect(codes).toEqual(['UTP_ECONNRESET']);
    } finally {
      clearInterval(writer);
    }
  }, 10_000);

  it('utp-native forgets a connection; the utpx peer then gets ECONNRESET', async () => {
    const { port } = await nativeServer((s) => {
      s.once('data', () => s.destroy());
    });
    const c = connect(port);
    const err = firstError(c) as Promise<ConnectionError>;
    c.resume();
    c.write('first');
    // libutp sends a FIN on destroy and drops the socket a little later; data after that is reset.
    await once(c, 'end');
    const writer = setInterval(() => c.write('more'), 20);
    try {
      expect((await err).code).toBe('ECONNRESET');
    } finally {
      clearInterval(writer);
    }
  });
});

describe('100 concurrent connections on one port', () => {
  const n = 100;
  const size = 64 * 1024;

  it('from one utpx socket to a utp-native server, each echoed', async () => {
    const seed = 300;
    await nativeServer((s) => s.pipe(s), true).then(async ({ port }) => {
      const shared = new UtpSocket();
      cleanup.push(() => new Promise<void>((resolve) => shared.close(resolve)));
      const results = Array.from({ length: n }, (_, i) => {
        const data = bytes(seed + i, size);
        const c = shared.connect(port);
        const got = collect(c);
        c.end(data);
        return got.then((b) => sha(b) === sha(data));
      });
      expect(await Promise.all(results), `seeds ${seed}..${seed + n - 1}`).toEqual(Array(n).fill(true));
    });
  });

  it('from one utp-native socket to a utpx server, each echoed', async () => {
    const seed = 400;
    const { server, port } = await utpxServer((s) => {
      s.pipe(s);
    });
    const shared = utpNative();
    await new Promise<void>((resolve) => shared.bind(0, '127.0.0.1', resolve));
    raiseBuffers(shared);
    cleanup.push(() => new Promise<void>((resolve) => shared.close(() => resolve())));
    const results = Array.from({ length: n }, (_, i) => {
      const data = bytes(seed + i, size);
      const c = shared.connect(port, '127.0.0.1');
      const got = collect(c);
      c.end(data);
      return got.then((b) => sha(b) === sha(data));
    });
    expect(await Promise.all(results), `seeds ${seed}..${seed + n - 1}`).toEqual(Array(n).fill(true));
    expect(server.endpoint.stats.connectionsAccepted).toBe(n);
  });
});

describe('through a lossy relay (2% loss, 1% duplication, 2% reordering)', () => {
  const size = MiB;

  it('utpx client → relay → utp-native server, echoed byte for byte', async () => {
    const seed = 500;
    const data = bytes(seed, size);
    let nativeClosed: Promise<void> | undefined;
    const { port } = await nativeServer((s) => {
      nativeClosed = closed(s);
      s.pipe(s);
    }, true);
    const relay = await relayTo(port, seed);
    // A shared socket stays open after the connection, so a late FIN from libutp still gets its ack.
    const shared = new UtpSocket();
    const c = shared.connect(relay.port, relay.address);
    const got = digest(c);
    c.end(data);
    const d = await got;
    expect(d.length, `seed ${seed}`).toBe(size);
    expect(d.sha, `seed ${seed}`).toBe(sha(data));
    await Promise.all([closed(c), nativeClosed]);
    expect(c.stats().outcome).toBe('closed');
    expect(relay.stats.c2s.lost + relay.stats.s2c.lost).toBeGreaterThan(0);
    await new Promise<void>((resolve) => shared.close(resolve));
  });

  it('utp-native client → relay → utpx server, echoed byte for byte', async () => {
    const seed = 501;
    const data = bytes(seed, size);
    let serverSocket: Socket | undefined;
    const { port } = await utpxServer((s) => {
      serverSocket = s;
      s.pipe(s);
    });
    const relay = await relayTo(port, seed);
    const c = utpNative.connect(relay.port, relay.address);
    const got = digest(c);
    c.end(data);
    const d = await got;
    expect(d.length, `seed ${seed}`).toBe(size);
    expect(d.sha, `seed ${seed}`).toBe(sha(data));
    await Promise.all([closed(c), closed(serverSocket as Socket)]);
    expect(serverSocket?.stats().outcome).toBe('closed');
    expect(relay.stats.c2s.lost + relay.stats.s2c.lost).toBeGreaterThan(0);
  });
});

describe('who speaks first', () => {
  it("a utpx server's greeting to a utp-native client waits until the client speaks, then arrives whole", async () => {
    // libutp's initiator says nothing after the SYN-ACK until it has data (or its keepalive is due,
    // 29 s later), and it takes the seq_nr of any packet it gets before the SYN-ACK as the start of
    // the stream. So the acceptor holds its data until the initiator is heard from, as libutp's own
    // acceptor does: a DATA that overtook a lost SYN-ACK would otherwise lose the bytes before it.
    const { port } = await utpxServer((s) => {
      s.write('welcome');
      s.on('data', () => s.end());
      s.resume();
    });
    const c = utpNative.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    c.on('data', (d: Buffer) => got.push(d));
    await once(c, 'connect');
    await new Promise((r) => setTimeout(r, 300));
    expect(Buffer.concat(got).length).toBe(0); // nothing before the client has spoken
    c.write('hi');
    await once(c, 'end');
    expect(String(Buffer.concat(got))).toBe('welcome');
    c.end();
    await closed(c);
  });

  it('a utpx client talking to a utp-native server speaks first (libutp holds the acceptor until then)', async () => {
    const { port } = await nativeServer((s) => {
      s.once('data', (d: Buffer) => s.end(`hello ${d}`));
      s.resume();
    });
    const c = connect(port);
    c.write('utpx');
    expect(String(await collect(c))).toBe('hello utpx');
    c.end();
    await closed(c);
  });
});

// ---------------------------------------------------------------- path MTU black holes

/** A relay that drops datagrams over `limit` bytes from the moment `armed()` says so, in both directions. */
async function shrinkingRelay(port: number, seed: number, limit: number, armed: () => boolean): Promise<Relay> {
  const relay = await createRelay({
    target: { address: '127.0.0.1', port },
    seed,
    drop: (buf) => armed() && buf.length > limit,
  });
  cleanup.push(() => relay.close());
  return relay;
}

describe('a path whose MTU falls to 1,200 bytes mid-transfer (DPLPMTUD black-hole fallback)', () => {
  for (const peer of ['utpx', 'utp-native'] as const) {
    it(`utpx → relay → ${peer} server, 8 MiB, byte for byte`, async () => {
      const seed = peer === 'utpx' ? 121 : 122;
      const data = bytes(seed, 8 * MiB);
      let received: Promise<{ sha: string; length: number }> | undefined;
      let serverSide: Promise<void> | undefined;
      let port: number;
      if (peer === 'utpx') {
        const s = await utpxServer((sock) => {
          received = digest(sock);
          serverSide = closed(sock);
          sock.on('end', () => sock.end());
        });
        port = s.port;
      } else {
        const s = await nativeServer((sock) => {
          received = digest(sock);
          serverSide = closed(sock);
          sock.on('end', () => sock.end());
        }, true);
        port = s.port;
      }
      let sent = 0;
      const relay = await shrinkingRelay(port, seed, 1200, () => sent >= 2 * MiB);
      const c = connect(relay.port, relay.address);
      c.resume();
      // Written in pieces, so the relay starts dropping with most of the data still to come.
      for (let off = 0; off < data.length; off += 256 * 1024) {
        const piece = data.subarray(off, off + 256 * 1024);
        sent += piece.length;
        if (!c.write(piece)) await once(c, 'drain');
      }
      c.end();
      await closed(c);
      const got = await (received as Promise<{ sha: string; length: number }>);
      // The server's end closes too (the relay, which carries our last ack, stays up until then).
      await serverSide;
      expect(got.length, `seed ${seed}`).toBe(data.length);
      expect(got.sha, `seed ${seed}`).toBe(sha(data));
      const st = c.stats();
      expect(st.outcome).toBe('closed');
      expect(relay.stats.c2s.dropped).toBeGreaterThan(0);
      expect(st.mtuBlackHoles).toBeGreaterThanOrEqual(1);
      expect(st.packetSize).toBeLessThanOrEqual(1200);
    }, 60_000);
  }

  it('utp-native client → relay → utpx server, the server sending 8 MiB, byte for byte', async () => {
    const seed = 123;
    const data = bytes(seed, 8 * MiB);
    let sent = 0;
    let serverSocket: Socket | undefined;
    const { port } = await utpxServer((sock) => {
      serverSocket = sock;
      sock.resume();
      // The client speaks first (a libutp initiator says nothing until it has data); then the download.
      sock.once('data', async () => {
        for (let off = 0; off < data.length; off += 256 * 1024) {
          const piece = data.subarray(off, off + 256 * 1024);
          sent += piece.length;
          if (!sock.write(piece)) await once(sock, 'drain');
        }
        sock.end();
      });
    });
    const relay = await shrinkingRelay(port, seed, 1200, () => sent >= 2 * MiB);
    const c = utpNative.connect(relay.port, relay.address);
    const received = digest(c);
    c.write('go');
    c.on('end', () => c.end());
    const got = await received;
    await Promise.all([closed(c), closed(serverSocket as Socket)]);
    expect(got.length, `seed ${seed}`).toBe(data.length);
    expect(got.sha, `seed ${seed}`).toBe(sha(data));
    const st = (serverSocket as Socket).stats();
    expect(st.outcome).toBe('closed');
    expect(relay.stats.s2c.dropped).toBeGreaterThan(0);
    expect(st.mtuBlackHoles).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
