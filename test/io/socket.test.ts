import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RECV_WINDOW, DEFAULT_SEND_QUEUE, type TraceRecord } from '../../src/core/connection.js';
import {
  type ConnectionError,
  connect,
  createServer,
  type Server,
  type Socket,
  UtpSocket,
  utp,
} from '../../src/io/index.js';
import type { StateTraceRecord } from '../../src/machines/connection.js';
import { Prng } from '../../src/sim/prng.js';
import { HEADER_SIZE, ST_DATA, UTP_VERSION } from '../../src/wire/constants.js';
import { PacketHeader } from '../../src/wire/header.js';
import { closed, collect } from '../helpers/streams.js';

// ---------------------------------------------------------------- helpers

/** Seeded randomness, so a failing transfer can be replayed. */
function prng(seed: number): () => number {
  const p = new Prng(seed);
  return () => p.next();
}

function bytes(seed: number, n: number): Buffer {
  const r = prng(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function listen(server: UtpSocket, host = '127.0.0.1'): Promise<number> {
  server.listen(0, host);
  await once(server, 'listening');
  return server.address().port;
}

function errorOf(s: Socket): Promise<ConnectionError> {
  return once(s, 'error').then(([err]) => err as ConnectionError);
}

async function closeServer(server: Server | UtpSocket): Promise<void> {
  const done = once(server, 'close');
  server.close();
  await done;
}

const withSeed = (seed: number) => `seed ${seed}`;

// ---------------------------------------------------------------- tests

describe('connect / createServer', () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`echoes 300 kB over ${host}`, async () => {
      const seed = 11;
      const server = createServer((s) => s.pipe(s));
      const port = await listen(server, host);
      const c = connect(port, host);
      const connected = once(c, 'connect');
      const data = bytes(seed, 300_000);
      c.end(data);
      const got = collect(c);
      await connected;
      expect(c.remoteAddress).toBe(host);
      expect(c.remotePort).toBe(port);
      expect(c.remoteFamily).toBe(host === '::1' ? 'IPv6' : 'IPv4');
      expect(c.address()?.family).toBe(host === '::1' ? 'IPv6' : 'IPv4');
      expect(sha(await got), withSeed(seed)).toBe(sha(data));
      await closed(c);
      expect(c.bytesWritten).toBe(data.length);
      expect(c.bytesRead).toBe(data.length);
      expect(c.stats().outcome).toBe('closed');
      await closeServer(server);
    });
  }

  it('resolves a host name (localhost) before connecting', async () => {
    const server = createServer((s) => s.pipe(s));
    const port = await listen(server);
    const c = connect(port, 'localhost');
    c.end('by name');
    expect(String(await collect(c))).toBe('by name');
    expect(c.remoteAddress).toBe('127.0.0.1');
    await closed(c);
    await closeServer(server);
  });

  it('a shared socket listens, connects out from the same port and passes other datagrams on', async () => {
    const a = utp();
    const b = utp();
    const portA = await listen(a);
    b.bind(0, '127.0.0.1');
    await once(b, 'listening');
    const accepted = once(a, 'connection');
    const c = b.connect(portA);
    c.write('from b');
    const [s] = (await accepted) as [Socket];
    // The server sees the shared socket's own port: connections leave from the bound port.
    expect(s.remotePort).toBe(b.address().port);
    s.pipe(s);
    const [echo] = await once(c, 'data');
    expect(String(echo)).toBe('from b');

    const message = once(a, 'message');
    b.send(Buffer.from('\x00plain udp'), 0, 10, portA, '127.0.0.1');
    const [msg, rinfo] = await message;
    expect(String(msg)).toBe('\x00plain udp');
    expect(rinfo).toMatchObject({ address: '127.0.0.1', port: b.address().port, family: 'IPv4' });
    expect(a.endpoint.stats.notUtp).toBe(1);

    c.end();
    s.on('end', () => s.end());
    await Promise.all([closed(c), closed(s)]);
    await Promise.all([closeServer(a), closeServer(b)]);
  });

  it('send() after close calls back with an error; close() twice calls back twice', async () => {
    const sock = utp();
    sock.bind(0, '127.0.0.1');
    await once(sock, 'listening');
    const first = new Promise<void>((resolve) => sock.close(resolve));
    await first;
    await new Promise<void>((resolve) => sock.close(resolve));
    const [err] = await new Promise<[Error | null]>((resolve) =>
      sock.send(Buffer.from('x'), 0, 1, 9, '127.0.0.1', (e) => resolve([e])),
    );
    expect(err).toBeInstanceOf(Error);
  });

  it('binding a port in use is an error event, and the socket can bind again', async () => {
    const a = utp();
    const port = await listen(a);
    const b = utp();
    b.listen(port, '127.0.0.1');
    const [err] = await once(b, 'error');
    expect((err as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    await listen(b);
    await Promise.all([closeServer(a), closeServer(b)]);
  });
});

describe('server', () => {
  it('yields accepted sockets through for await and ends when closed', async () => {
    const server = createServer();
    const port = await listen(server);
    const n = 3;
    const clients = Array.from({ length: n }, (_, i) => {
      const c = connect(port);
      c.end(`client ${i}`);
      return c;
    });
    const replies = clients.map((c) => collect(c));
    const received: string[] = [];
    for await (const s of server) {
      const text = String(await collect(s));
      received.push(text);
      s.end(`re: ${text}`);
      if (received.length === n) server.close();
    }
    expect(received.sort()).toEqual(['client 0', 'client 1', 'client 2']);
    expect((await Promise.all(replies)).map(String).sort()).toEqual(['re: client 0', 're: client 1', 're: client 2']);
    await Promise.all(clients.map(closed));
    await once(server, 'close');
  });

  it('a consumer that breaks out destroys the sockets it never pulled and leaves no listener', async () => {
    const server = createServer();
    const port = await listen(server);
    const iterator = server[Symbol.asyncIterator]();
    // All three accepted (the server hears each client after its SYN-ACK) wait in the iterator.
    let accepted = 0;
    const allAccepted = new Promise<void>((resolve) =>
      server.on('connection', () => {
        if (++accepted === 3) resolve();
      }),
    );
    const clients = [connect(port), connect(port), connect(port)];
    await allAccepted;
    // The server ends or destroys each of them; the clients only listen.
    const ends = clients.map((c) => {
      c.resume();
      c.on('end', () => c.destroy());
      return closed(c);
    });
    let pulled: Socket | undefined;
    for await (const s of { [Symbol.asyncIterator]: () => iterator }) {
      pulled = s;
      break;
    }
    expect(server.listenerCount('connection')).toBe(1); // ours above; the iterator's is gone
    expect(pulled).toBeDefined();
    // The two buffered ones were destroyed (a FIN): their clients see an end, not an error.
    const errors: Error[] = [];
    for (const c of clients) c.on('error', (e) => errors.push(e));
    (pulled as Socket).end();
    (pulled as Socket).resume();
    await Promise.all(ends);
    expect(errors).toEqual([]);
    await closeServer(server);
    expect(server.connections).toHaveLength(0);
  });

  it('close() stops accepting while open connections go on; the port closes after the last one', async () => {
    const server = createServer();
    const port = await listen(server);
    const c = connect(port);
    c.write('hello');
    const [s] = (await once(server, 'connection')) as [Socket];
    let serverClosed = false;
    server.close(() => {
      serverClosed = true;
    });
    const refused = connect(port);
    expect((await errorOf(refused)).code).toBe('ECONNREFUSED');
    expect(serverClosed).toBe(false);
    s.pipe(s);
    c.end(' world');
    expect(String(await collect(c))).toBe('hello world');
    await closed(c);
    await once(server, 'close');
    expect(serverClosed).toBe(true);
  });

  it('refuses connections at once (RST) on a bound port that is not listening', async () => {
    const sock = new UtpSocket();
    sock.bind(0, '127.0.0.1');
    await once(sock, 'listening');
    const t0 = performance.now();
    const c = connect(sock.address().port);
    const err = await errorOf(c);
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.syscall).toBe('connect');
    // Well before the first SYN retransmission (1 s): the answer was a RST, not a timeout.
    expect(performance.now() - t0).toBeLessThan(900);
    expect(sock.endpoint.stats.synsRejected).toBe(1);
    await closed(c);
    await closeServer(sock);
  });
});

describe('socket lifecycle', () => {
  it('a peer that never answers times out with ETIMEDOUT (syscall connect)', async () => {
    const silent = dgram.createSocket('udp4');
    let syns = 0;
    silent.on('message', () => syns++);
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    const port = silent.address().port;
    const c = connect(port, '127.0.0.1', { connection: { synRtoMs: 20, synRetries: 2 } });
    const err = await errorOf(c);
    expect(err.code).toBe('ETIMEDOUT');
    expect(err.syscall).toBe('connect');
    expect(syns).toBe(3);
    await closed(c);
    silent.close();
  });

  it('maxConnections refuses more incoming connections while that many are open', async () => {
    const server = createServer();
    server.maxConnections = 1;
    const port = await listen(server);
    const first = connect(port);
    first.write('x');
    const [s] = (await once(server, 'connection')) as [Socket];
    const second = connect(port);
    expect((await errorOf(second)).code).toBe('ECONNREFUSED');
    s.on('end', () => s.end());
    s.resume();
    first.end();
    first.resume();
    await Promise.all([closed(first), closed(s)]);
    // Below the limit again: accepted.
    const third = connect(port);
    third.end('y');
    third.resume();
    const [s3] = (await once(server, 'connection')) as [Socket];
    expect(String(await collect(s3))).toBe('y');
    s3.end();
    await closed(third);
    await closeServer(server);
  });

  it("a throwing 'data' listener destroys that socket with the error; the server goes on", async () => {
    const server = createServer();
    const port = await listen(server);
    const bad = connect(port);
    bad.on('error', () => {});
    bad.write('trigger');
    const [s] = (await once(server, 'connection')) as [Socket];
    s.on('data', () => {
      throw new Error('listener bug');
    });
    const err = await once(s, 'error').then(([e]) => e as Error);
    expect(err.message).toBe('listener bug');
    const good = connect(port);
    good.end('still here');
    const [s2] = (await once(server, 'connection')) as [Socket];
    expect(String(await collect(s2))).toBe('still here');
    s2.end();
    good.resume();
    await closed(good);
    bad.destroy();
    await closeServer(server);
  });

  it('destroy(err) resets the peer: it gets ECONNRESET', async () => {
    const server = createServer();
    const port = await listen(server);
    const c = connect(port);
    c.write('x');
    const [s] = (await once(server, 'connection')) as [Socket];
    await once(s, 'data');
    const peerError = errorOf(s);
    const own = errorOf(c);
    c.destroy(Object.assign(new Error('boom'), { code: 'EBOOM' }));
    expect((await own).message).toBe('boom');
    const err = await peerError;
    expect(err.code).toBe('ECONNRESET');
    expect(err.syscall).toBe('read');
    await closed(s);
    await closeServer(server);
  });

  it('a plain destroy() closes politely: the peer sees end, not an error', async () => {
    const server = createServer();
    const port = await listen(server);
    const c = connect(port);
    c.write('x');
    const [s] = (await once(server, 'connection')) as [Socket];
    const errors: Error[] = [];
    s.on('error', (e) => errors.push(e));
    await once(s, 'data');
    const ended = once(s, 'end');
    c.destroy();
    await ended;
    expect(errors).toEqual([]);
    // Answering the end with our own: the destroyed connection's ids linger in the client's
    // endpoint, which acks the server's FIN (as libutp acks until the peer's FIN after utp_close).
    s.end();
    await closed(s);
    expect(errors).toEqual([]);
    expect(s.stats().outcome).toBe('closed');
    await closeServer(server);
  });

  it('a receiver that destroys mid-transfer fails the sender (pipeline rejects), as over net', async () => {
    const server = createServer();
    const port = await listen(server);
    const data = bytes(31, 8 << 20);
    let got = 0;
    server.on('connection', (s: Socket) => {
      s.on('data', (d: Buffer) => {
        got += d.length;
        if (got >= 1 << 20) s.destroy(); // a plain destroy: the reader has had enough
      });
    });
    const c = connect(port);
    const { pipeline } = await import('node:stream/promises');
    const { Readable } = await import('node:stream');
    const result = pipeline(Readable.from([data]), c).then(
      () => 'resolved',
      (e: NodeJS.ErrnoException) => e.code,
    );
    expect(await result).toBe('ECONNRESET');
    expect(got).toBeLessThan(data.length);
    await closeServer(server);
  });

  it('destroy() with received bytes left unread resets the peer (as TCP close does)', async () => {
    const server = createServer();
    const port = await listen(server);
    const c = connect(port);
    const [s] = (await once(server, 'connection')) as [Socket];
    s.pause();
    c.write('unread');
    // Wait until the bytes sit in the server socket's readable buffer, unread.
    while (s.readableLength === 0) await new Promise((r) => setTimeout(r, 5));
    let ended = false;
    c.on('end', () => {
      ended = true;
    });
    c.resume();
    const err = errorOf(c);
    s.destroy();
    expect((await err).code).toBe('ECONNRESET');
    // A RST, not a FIN: the client's read side never ended cleanly.
    expect(ended).toBe(false);
    await closeServer(server);
  });

  it('half-close: the server writes after the client ended (allowHalfOpen, the default)', async () => {
    const server = createServer();
    const port = await listen(server);
    const c = connect(port);
    c.end('request');
    const reply = collect(c);
    const [s] = (await once(server, 'connection')) as [Socket];
    const request = String(await collect(s));
    expect(s.writable).toBe(true);
    for (let i = 0; i < 3; i++) s.write(`part ${i} of the reply to ${request}; `);
    s.end('done');
    expect(String(await reply)).toBe(
      'part 0 of the reply to request; part 1 of the reply to request; part 2 of the reply to request; done',
    );
    await Promise.all([closed(c), closed(s)]);
    expect(s.stats().outcome).toBe('closed');
    expect(c.stats().outcome).toBe('closed');
    await closeServer(server);
  });

  it('allowHalfOpen: false ends our side when the peer ends', async () => {
    const server = createServer({ allowHalfOpen: false });
    const port = await listen(server);
    const c = connect(port);
    c.end('bye');
    const reply = collect(c);
    const [s] = (await once(server, 'connection')) as [Socket];
    const finished = once(s, 'finish');
    expect(String(await collect(s))).toBe('bye');
    await finished;
    expect(String(await reply)).toBe('');
    await Promise.all([closed(c), closed(s)]);
    await closeServer(server);
  });

  it('a write after destroy fails with ERR_STREAM_DESTROYED', async () => {
    const server = createServer((s) => {
      s.resume();
      s.on('end', () => s.destroy());
    });
    const port = await listen(server);
    const c = connect(port);
    await once(c, 'connect');
    c.destroy();
    const err = await new Promise<NodeJS.ErrnoException | null | undefined>((resolve) => c.write('late', resolve));
    expect(err?.code).toBe('ERR_STREAM_DESTROYED');
    await closed(c);
    await closeServer(server);
  });

  it("setTimeout emits 'timeout' after idling and leaves the socket open", async () => {
    const server = createServer((s) => s.pipe(s));
    const port = await listen(server);
    const c = connect(port);
    c.write('ping');
    await once(c, 'data');
    const t0 = performance.now();
    c.setTimeout(40);
    await once(c, 'timeout');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(35);
    expect(c.destroyed).toBe(false);
    c.setTimeout(0);
    c.end('pong');
    c.resume();
    await closed(c);
    await closeServer(server);
  });
});

describe('backpressure', () => {
  it('a paused reader stops the sender; resuming delivers everything intact', async () => {
    const seed = 23;
    const total = 12 * 1024 * 1024;
    const data = bytes(seed, total);
    let zeroWindowAt = 0;
    let onZeroWindow: () => void = () => {};
    const zeroWindow = new Promise<void>((resolve) => {
      onZeroWindow = resolve;
    });
    const server = createServer({
      trace: (r: TraceRecord | StateTraceRecord) => {
        if (r.kind === 'packet' && r.dir === 'out' && r.type === 'STATE' && r.windowSize === 0 && zeroWindowAt === 0) {
          zeroWindowAt = r.at;
          onZeroWindow();
        }
      },
    });
    const port = await listen(server);
    let c: Socket | undefined;
    let onProbe: () => void = () => {};
    const probed = new Promise<void>((resolve) => {
      onProbe = resolve;
    });
    c = connect(port, '127.0.0.1', {
      trace: (r) => {
        // The sender's zero-window probe: proof that it sat at a closed window for a while.
        if (r.kind === 'packet' && r.dir === 'out' && r.type === 'DATA' && zeroWindowAt > 0) {
          if ((c?.stats().zeroWindowProbes ?? 0) > 0) onProbe();
        }
      },
    });
    const client = c;
    client.resume();
    const writer = (async () => {
      for (let at = 0; at < total; at += 64 * 1024) {
        if (!client.write(data.subarray(at, at + 64 * 1024))) await once(client, 'drain');
      }
      client.end();
    })();
    const [s] = (await once(server, 'connection')) as [Socket];
    // No 'data' listener: the server socket stays paused and its buffer fills.
    await zeroWindow;
    await probed;
    const recvWindow = DEFAULT_RECV_WINDOW;
    expect(s.readableLength, withSeed(seed)).toBeGreaterThanOrEqual(recvWindow - 20_000);
    expect(s.readableLength).toBeLessThanOrEqual(recvWindow + 64 * 1024);
    expect(client.writableNeedDrain).toBe(true);
    // Accepted by the client stream: the receiver's window, the send queue and a chunk or two — not all.
    expect(client.bytesWritten).toBeLessThan(DEFAULT_RECV_WINDOW + DEFAULT_SEND_QUEUE + 512 * 1024);
    expect(client.bytesWritten).toBeLessThan(total);
    const got = collect(s);
    s.on('end', () => s.end());
    await writer;
    expect(sha(await got), withSeed(seed)).toBe(sha(data));
    await closed(client);
    await closeServer(server);
  });
});

describe('hostile input', () => {
  it('drops and counts garbage and truncated datagrams thrown at a live server mid-transfer', async () => {
    const seed = 97;
    const r = prng(seed);
    const data = bytes(seed, 4 * 1024 * 1024);
    const server = createServer();
    let messages = 0;
    server.on('message', () => messages++);
    const port = await listen(server);
    const c = connect(port);
    c.end(data);
    c.resume();
    const [s] = (await once(server, 'connection')) as [Socket];
    const got = collect(s);
    s.on('end', () => s.end());

    const attacker = dgram.createSocket('udp4');
    attacker.on('message', () => {}); // RSTs for the forged packets come back here
    await new Promise<void>((resolve) => attacker.bind(0, '127.0.0.1', resolve));
    let garbage = 0;
    let truncated = 0;
    let forged = 0;
    const sends: Promise<void>[] = [];
    const fire = (b: Uint8Array) =>
      sends.push(new Promise<void>((resolve) => attacker.send(b, port, '127.0.0.1', () => resolve())));
    for (let i = 0; i < 300; i++) {
      const kind = i % 3;
      if (kind === 0) {
        // Random bytes with a version nibble that is not 1: never uTP.
        const b = Buffer.from(bytes(seed + i, 1 + ((r() * 200) | 0)));
        b[0] = ((b[0] as number) & 0xf0) | 2;
        fire(b);
        garbage++;
      } else if (kind === 1) {
        // A uTP header cut short.
        const b = new Uint8Array(HEADER_SIZE);
        new PacketHeader(b).version = UTP_VERSION;
        fire(b.subarray(0, 1 + ((r() * (HEADER_SIZE - 1)) | 0)));
        truncated++;
      } else {
        // A well-formed DATA packet for a connection that does not exist.
        const b = new Uint8Array(HEADER_SIZE + 10);
        const h = new PacketHeader(b);
        h.type = ST_DATA;
        h.version = UTP_VERSION;
        h.connectionId = (r() * 0x10000) | 0;
        h.seqNr = (r() * 0x10000) | 0;
        fire(b);
        forged++;
      }
    }
    await Promise.all(sends);
    expect(sha(await got), withSeed(seed)).toBe(sha(data));
    await Promise.all([closed(c), closed(s)]);
    attacker.close();
    const stats = server.endpoint.stats;
    expect(stats.notUtp).toBe(garbage + truncated);
    expect(messages).toBe(garbage + truncated);
    expect(stats.unknownConnection).toBeGreaterThanOrEqual(forged);
    expect(stats.connectionsAccepted).toBe(1);
    await closeServer(server);
  });
});

describe('auditing', () => {
  it('an inspect observer sees every lifecycle actor event (what the Stately inspector consumes)', async () => {
    const seen: string[] = [];
    const inspect = (e: { type: string; event?: { type: string } }) => {
      if (e.type === '@xstate.event' && e.event) seen.push(e.event.type);
    };
    const server = createServer({ inspect }, (s) => {
      s.resume();
      s.on('end', () => s.end());
    });
    const port = await listen(server);
    const c = connect(port, '127.0.0.1', { inspect });
    c.end('hello');
    c.resume();
    await closed(c);
    for (const t of ['CONNECT', 'SYN', 'SYN_ACKED', 'PEER_ACKED', 'END', 'FIN_RECEIVED', 'FIN_ACKED']) {
      expect(seen).toContain(t);
    }
    await closeServer(server);
  });
});
