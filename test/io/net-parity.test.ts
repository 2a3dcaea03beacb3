/**
 * The same small scenarios against `node:net` and utpx, with the same code, comparing what an
 * application observes: the events on each socket in order ('connect', 'data', 'end', 'error'
 * with its code, 'close' with hadError), thrown errors, and who closes when.
 *
 * Where utpx deliberately differs, the scenario is listed in DIFFERENCES with both outcomes and
 * the reason (README.md, "Differences from net", says the same); everything else must be equal.
 * Everything on loopback; all sockets are closed at the end of each scenario.
 */
import dgram from 'node:dgram';
import type { EventEmitter } from 'node:events';
import { once } from 'node:events';
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import * as utpx from '../../src/index.js';

// ---------------------------------------------------------------- the two implementations

/** What the scenarios use of a socket: net.Socket's surface, which utpx.Socket has too. */
type AnySocket = net.Socket;
interface AnyServer extends EventEmitter {
  listen(port: number, host: string, cb: () => void): unknown;
  address(): unknown;
  close(cb?: (err?: Error) => void): unknown;
}
interface Impl {
  createServer(options: { allowHalfOpen?: boolean }, onConnection: (s: AnySocket) => void): AnyServer;
  connect(...args: unknown[]): AnySocket;
  /** A port on 127.0.0.1 where nothing listens (TCP for net, UDP for utpx). */
  closedPort(): Promise<number>;
}

const impls: Record<'net' | 'utpx', Impl> = {
  net: {
    createServer: (o, cb) => net.createServer(o, cb),
    connect: (...args) => (net.connect as (...a: unknown[]) => net.Socket)(...args),
    async closedPort() {
      const s = net.createServer();
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      const { port } = s.address() as net.AddressInfo;
      await new Promise<void>((r) => s.close(() => r()));
      return port;
    },
  },
  utpx: {
    createServer: (o, cb) => utpx.createServer(o, cb as unknown as (s: utpx.Socket) => void) as unknown as AnyServer,
    connect: (...args) => (utpx.connect as unknown as (...a: unknown[]) => AnySocket)(...args),
    async closedPort() {
      const d = dgram.createSocket('udp4');
      await new Promise<void>((r) => d.bind(0, '127.0.0.1', r));
      const { port } = d.address();
      await new Promise<void>((r) => d.close(() => r()));
      return port;
    },
  },
};

// ---------------------------------------------------------------- observing

/**
 * The events of `s`, in order: 'connect', 'data:<text>' (consecutive chunks merged: chunking is
 * the transport's business), 'end', 'timeout', 'error:<code>', 'close(<hadError>)'. Accepted
 * sockets are recorded without 'connect' (see the DIFFERENCES entry 'accepted-connect').
 */
function record(s: AnySocket, opts: { connect?: boolean } = {}): string[] {
  const log: string[] = [];
  if (opts.connect !== false) s.on('connect', () => log.push('connect'));
  s.on('data', (d: Buffer) => {
    const last = log.at(-1);
    if (last?.startsWith('data:')) log[log.length - 1] = `${last}${d}`;
    else log.push(`data:${d}`);
  });
  s.on('end', () => log.push('end'));
  s.on('timeout', () => log.push('timeout'));
  s.on('error', (e: NodeJS.ErrnoException) => log.push(`error:${e.code ?? e.message}`));
  s.on('close', (hadError: boolean) => log.push(`close(${hadError})`));
  return log;
}

function closed(s: EventEmitter & { closed?: boolean }): Promise<void> {
  return new Promise((resolve) => (s.closed === true ? resolve() : s.once('close', () => resolve())));
}

async function listen(server: AnyServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

function closeServer(server: AnyServer): Promise<void> {
  return new Promise((r) => server.close(() => r()));
}

function thrown(fn: () => unknown): string {
  try {
    const s = fn() as AnySocket;
    s.on('error', () => {});
    s.destroy();
    return 'no throw';
  } catch (err) {
    const e = err as Error & { code?: string };
    return `${e.name} ${e.code}`;
  }
}

/** A server whose accepted sockets are recorded; `handler` gets each socket and its log. */
function recordingServer(impl: Impl, allowHalfOpen: boolean, handler: (s: AnySocket) => void) {
  const logs: string[][] = [];
  const sockets: AnySocket[] = [];
  const server = impl.createServer({ allowHalfOpen }, (s) => {
    logs.push(record(s, { connect: false }));
    sockets.push(s);
    handler(s);
  });
  return { server, logs, sockets };
}

/** The server destroys its socket (with `err`, or none) on the first data; the client answers its end. */
async function serverDestroys(impl: Impl, err: Error | undefined) {
  const { server, logs, sockets } = recordingServer(impl, true, (s) => s.once('data', () => s.destroy(err)));
  const port = await listen(server);
  const c = impl.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const client = record(c);
  c.on('end', () => c.end());
  c.write('x');
  await once(server, 'connection');
  await Promise.all([closed(c), closed(sockets[0] as AnySocket)]);
  await closeServer(server);
  return { client, server: logs };
}

/** The client writes, and once the server has the byte, ends abruptly with `how`. */
async function clientEndsAbruptly(impl: Impl, how: (c: AnySocket) => void) {
  const { server, logs, sockets } = recordingServer(impl, true, (s) => s.on('end', () => s.end()));
  const port = await listen(server);
  const c = impl.connect(port, '127.0.0.1');
  const client = record(c);
  c.write('x');
  await once(server, 'connection');
  await once(sockets[0] as AnySocket, 'data');
  how(c);
  await Promise.all([closed(c), closed(sockets[0] as AnySocket)]);
  await closeServer(server);
  return { client, server: logs };
}

// ---------------------------------------------------------------- scenarios

type Scenario = (impl: Impl) => Promise<unknown>;

const scenarios: Record<string, Scenario> = {
  async 'bad arguments'(impl) {
    return {
      'connect(70000)': thrown(() => impl.connect(70000)),
      'connect(-1)': thrown(() => impl.connect(-1)),
      'connect(1.5)': thrown(() => impl.connect(1.5)),
      'connect()': thrown(() => impl.connect()),
      'connect({})': thrown(() => impl.connect({})),
      'connect({ port: 70000 })': thrown(() => impl.connect({ port: 70000 })),
      "connect({ port: 'x' })": thrown(() => impl.connect({ port: 'x' })),
      'connect({ port: 1, host: 5 })': thrown(() => impl.connect({ port: 1, host: 5 })),
      'listen(70000)': thrown(() => impl.createServer({}, () => {}).listen(70000, '127.0.0.1', () => {})),
    };
  },

  async 'bad arguments net reads as a path or port 0'(impl) {
    const quiet = (s: AnySocket) =>
      new Promise<string>((r) => s.once('error', (e) => r(`async ${(e as NodeJS.ErrnoException).code}`)));
    const attempt = async (fn: () => AnySocket): Promise<string> => {
      try {
        return await quiet(fn());
      } catch (err) {
        return `throws ${(err as { code?: string }).code}`;
      }
    };
    return {
      "connect('abc')": await attempt(() => impl.connect('abc')),
      'connect(0)': await attempt(() => impl.connect(0)),
    };
  },

  async 'refused port'(impl) {
    const port = await impl.closedPort();
    const c = impl.connect(port, '127.0.0.1');
    const log = record(c);
    const [err] = (await once(c, 'close').catch(() => [undefined])) as [unknown];
    void err;
    await closed(c);
    return log;
  },

  async 'refused port: the error'(impl) {
    const port = await impl.closedPort();
    const c = impl.connect(port, '127.0.0.1');
    const [err] = (await once(c, 'error')) as [NodeJS.ErrnoException & { address?: string; port?: number }];
    await closed(c);
    return {
      code: err.code,
      syscall: err.syscall,
      address: err.address,
      port: err.port === port,
      message: err.message.replace(String(port), 'PORT'),
    };
  },

  async 'half-close: the client ends, the server answers, then ends'(impl) {
    const { server, logs } = recordingServer(impl, true, (s) => {
      let got = '';
      s.on('data', (d) => {
        got += d;
      });
      s.on('end', () => {
        s.write(`pong:${got}`);
        s.end();
      });
    });
    const port = await listen(server);
    const c = impl.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const client = record(c);
    c.end('ping');
    await closed(c);
    await closeServer(server);
    return { client, server: logs };
  },

  async 'allowHalfOpen not given'(impl) {
    const writable: boolean[] = [];
    const { server, logs } = recordingServer(impl, undefined as unknown as boolean, (s) => {
      // net ends its side by itself on the next tick after 'end' (allowHalfOpen: false).
      s.on('end', () =>
        setImmediate(() => {
          writable.push(!s.writableEnded);
          if (!s.writableEnded) s.end();
        }),
      );
    });
    void logs;
    const port = await listen(server);
    const c = impl.connect(port, '127.0.0.1');
    c.resume();
    c.end('x');
    await closed(c);
    await closeServer(server);
    return { serverWritableAfterEnd: writable };
  },

  async 'the client destroys (no error)'(impl) {
    const { server, logs, sockets } = recordingServer(impl, true, (s) => s.on('end', () => s.end()));
    const port = await listen(server);
    const c = impl.connect(port, '127.0.0.1');
    const client = record(c);
    c.write('x');
    await once(server, 'connection');
    await once(sockets[0] as AnySocket, 'data');
    c.destroy();
    await Promise.all([closed(c), closed(sockets[0] as AnySocket)]);
    await closeServer(server);
    return { client, server: logs };
  },

  async 'the server destroys (no error)'(impl) {
    return serverDestroys(impl, undefined);
  },

  async 'the client destroys with an error'(impl) {
    return clientEndsAbruptly(impl, (c) => c.destroy(Object.assign(new Error('boom'), { code: 'EBOOM' })));
  },

  async 'the server destroys with an error'(impl) {
    return serverDestroys(impl, Object.assign(new Error('boom'), { code: 'EBOOM' }));
  },

  async 'resetAndDestroy()'(impl) {
    return clientEndsAbruptly(impl, (c) => c.resetAndDestroy());
  },

  async 'setTimeout: an idle socket gets timeout and stays open'(impl) {
    const { server, logs, sockets } = recordingServer(impl, true, (s) => s.on('end', () => s.end()));
    const port = await listen(server);
    const c = impl.connect(port, '127.0.0.1');
    const client = record(c);
    c.write('x');
    await once(server, 'connection');
    await once(sockets[0] as AnySocket, 'data');
    c.setTimeout(30);
    await once(c, 'timeout');
    const open = !c.destroyed && c.writable;
    c.setTimeout(0);
    c.end();
    await Promise.all([closed(c), closed(sockets[0] as AnySocket)]);
    await closeServer(server);
    return { open, client, server: logs };
  },

  async 'server.close() with a client connected'(impl) {
    const { server, logs, sockets } = recordingServer(impl, true, (s) => s.on('end', () => s.end()));
    const port = await listen(server);
    const order: string[] = [];
    const first = impl.connect(port, '127.0.0.1');
    const firstLog = record(first);
    first.write('a');
    await once(server, 'connection');
    await once(sockets[0] as AnySocket, 'data');
    const serverClosed = new Promise<void>((r) =>
      server.close((err) => {
        order.push(`server close${err ? ` ${(err as NodeJS.ErrnoException).code}` : ''}`);
        r();
      }),
    );
    // The server's 'close' waits for its open connection (net emits it a tick before that socket's
    // own 'close', utpx a tick after: the order of those two is not compared).
    (sockets[0] as AnySocket).once('end', () => order.push('accepted socket ended'));
    const second = impl.connect(port, '127.0.0.1');
    const secondLog = record(second);
    await closed(second);
    order.push('second refused');
    first.end();
    await Promise.all([closed(first), serverClosed]);
    const again = await new Promise<string>((r) =>
      server.close((err) => r(String((err as NodeJS.ErrnoException | undefined)?.code))),
    );
    return { order, first: firstLog, second: secondLog, server: logs, closeAgain: again };
  },

  async 'accepted-connect'(impl) {
    const events: string[] = [];
    const { server, sockets } = recordingServer(impl, true, (s) => {
      s.on('connect', () => events.push('accepted socket: connect'));
      s.on('end', () => s.end());
    });
    const port = await listen(server);
    const c = impl.connect(port, '127.0.0.1');
    c.write('x');
    await once(server, 'connection');
    await once(sockets[0] as AnySocket, 'data');
    c.end();
    c.resume();
    await Promise.all([closed(c), closed(sockets[0] as AnySocket)]);
    await closeServer(server);
    return events;
  },

  async 'a burst of 1,000 clients, each echoed one byte'(impl) {
    const n = 1000;
    const server = impl.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.on('data', (d) => s.write(d));
      s.on('end', () => s.end());
    });
    const port = await listen(server);
    const errors: string[] = [];
    let echoed = 0;
    await Promise.all(
      Array.from({ length: n }, () => {
        const c = impl.connect(port, '127.0.0.1');
        c.on('error', (e: NodeJS.ErrnoException) => errors.push(String(e.code)));
        c.on('connect', () => c.write('x'));
        c.once('data', () => {
          echoed++;
          c.end();
        });
        c.resume();
        return closed(c);
      }),
    );
    await closeServer(server);
    return { echoed, errors };
  },
};

/**
 * Scenarios where utpx differs on purpose: both outcomes, and why. README.md ("Differences from
 * net") lists the same.
 */
const DIFFERENCES: Record<string, { net: unknown; utpx: unknown; why: string }> = {
  'bad arguments net reads as a path or port 0': {
    net: { "connect('abc')": 'async ENOENT', 'connect(0)': 'async ECONNREFUSED' },
    utpx: { "connect('abc')": 'throws ERR_SOCKET_BAD_PORT', 'connect(0)': 'throws ERR_SOCKET_BAD_PORT' },
    why: 'utpx has no IPC paths, and nothing can answer on port 0: both fail at once instead of later',
  },
  'allowHalfOpen not given': {
    net: { serverWritableAfterEnd: [false] },
    utpx: { serverWritableAfterEnd: [true] },
    why: "utp-native's default (allowHalfOpen: true), which utpx keeps for those switching from it; pass allowHalfOpen: false for net's",
  },
  'the client destroys with an error': {
    net: { client: ['connect', 'error:EBOOM', 'close(true)'], server: [['data:x', 'end', 'close(false)']] },
    utpx: {
      client: ['connect', 'error:EBOOM', 'close(true)'],
      server: [['data:x', 'error:ECONNRESET', 'close(true)']],
    },
    why: 'destroy(err) tells the peer the transfer failed (a RESET, as libutp), where TCP sends a FIN unless bytes were left unread',
  },
  'the server destroys with an error': {
    net: { client: ['connect', 'end', 'close(false)'], server: [['data:x', 'error:EBOOM', 'close(true)']] },
    utpx: {
      client: ['connect', 'error:ECONNRESET', 'close(true)'],
      server: [['data:x', 'error:EBOOM', 'close(true)']],
    },
    why: 'as above: destroy(err) resets the peer',
  },
  'accepted-connect': {
    net: [],
    utpx: ['accepted socket: connect'],
    why: "'connection' comes once the initiator answers the SYN-ACK, as net's after the handshake; an accepted socket also emits 'connect' then (net's accepted sockets emit none)",
  },
};

/** What both must observe, where that is not simply "the same as net": a check that the scenario tests something. */
const EXPECTED: Record<string, unknown> = {
  'refused port': ['error:ECONNREFUSED', 'close(true)'],
  'half-close: the client ends, the server answers, then ends': {
    client: ['connect', 'data:pong:ping', 'end', 'close(false)'],
    server: [['data:ping', 'end', 'close(false)']],
  },
  'the client destroys (no error)': {
    client: ['connect', 'close(false)'],
    server: [['data:x', 'end', 'close(false)']],
  },
  'the server destroys (no error)': {
    client: ['connect', 'end', 'close(false)'],
    server: [['data:x', 'close(false)']],
  },
  'resetAndDestroy()': { client: ['connect', 'close(false)'], server: [['data:x', 'error:ECONNRESET', 'close(true)']] },
  'server.close() with a client connected': {
    order: ['second refused', 'accepted socket ended', 'server close'],
    first: ['connect', 'end', 'close(false)'],
    second: ['error:ECONNREFUSED', 'close(true)'],
    server: [['data:a', 'end', 'close(false)']],
    closeAgain: 'ERR_SERVER_NOT_RUNNING',
  },
  'a burst of 1,000 clients, each echoed one byte': { echoed: 1000, errors: [] },
};

describe('net parity: the same code against node:net and utpx', () => {
  for (const [name, scenario] of Object.entries(scenarios)) {
    it(name, async () => {
      const got = { net: await scenario(impls.net), utpx: await scenario(impls.utpx) };
      if (process.env.UTPX_VERBOSE) console.log(name, JSON.stringify(got));
      const diff = DIFFERENCES[name];
      if (diff !== undefined) {
        expect(got.net, `net (${diff.why})`).toEqual(diff.net);
        expect(got.utpx, `utpx (${diff.why})`).toEqual(diff.utpx);
        return;
      }
      expect(got.utpx).toEqual(got.net);
      if (name in EXPECTED) expect(got.net).toEqual(EXPECTED[name]);
    });
  }
});
