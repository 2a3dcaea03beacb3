/**
 * Child for the connection-scale benchmark (../connections.ts): N idle connections from one shared
 * socket to a server in the same process, both ends counted (as the issue measured it).
 *
 *   argv: <kind utpx|utp-native> <n>  → posts { type: 'conns', ... }
 *
 * Reports the set-up time and rate, how many connected, and RSS and heap per connection once idle
 * (after a GC, minus what the process held before the first connection).
 */
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createServer, utp } from '../../src/io/index.js';

const [kind = 'utpx', nArg = '1000'] = process.argv.slice(2);
const n = Number(nArg);
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function post(m: unknown): void {
  if (process.send) process.send(m, () => process.exit(0));
  else {
    console.log(JSON.stringify(m));
    process.exit(0);
  }
}

function sample(): { rss: number; heap: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.arrayBuffers };
}

/** Opens `n` connections, at most `window` in the handshake at once (a SYN burst is not the point). */
async function openAll(open: () => Duplex, window = 256): Promise<{ sockets: Duplex[]; failed: number }> {
  const sockets: Duplex[] = [];
  let failed = 0;
  let started = 0;
  let done = 0;
  await new Promise<void>((resolve) => {
    const next = (): void => {
      while (started < n && started - done < window) {
        started++;
        const s = open();
        sockets.push(s);
        let settled = false;
        // A connection that neither connects nor fails within 10 s counts as failed (libutp's
        // connection ids clash past a few thousand connections from one socket, and some then hang).
        const timer = setTimeout(() => settle(false), 10_000);
        const settle = (ok: boolean): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (!ok) failed++;
          done++;
          if (done === n) resolve();
          else next();
        };
        s.once('connect', () => settle(true));
        s.once('error', () => settle(false));
      }
    };
    next();
  });
  return { sockets, failed };
}

async function main(): Promise<void> {
  const before = sample();
  const t0 = performance.now();
  let accepted = 0;
  let sockets: Duplex[];
  let failed: number;
  if (kind === 'utpx') {
    const server = createServer({ maxHalfOpen: 4096 }, (s) => {
      accepted++;
      s.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = server.address().port;
    const client = utp();
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', () => resolve()));
    ({ sockets, failed } = await openAll(() => client.connect(port, '127.0.0.1') as unknown as Duplex));
  } else {
    type U = {
      on(e: string, f: (c: Duplex) => void): void;
      listen(p: number, h: string, cb: () => void): void;
      bind(p: number, h: string): void;
      connect(p: number, h: string): Duplex;
      address(): { port: number };
    };
    const factory = createRequire(import.meta.url)('utp-native') as () => U;
    const server = factory();
    server.on('connection', (c) => {
      accepted++;
      c.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = factory();
    client.bind(0, '127.0.0.1');
    const port = server.address().port;
    ({ sockets, failed } = await openAll(() => client.connect(port, '127.0.0.1')));
  }
  const setupSeconds = (performance.now() - t0) / 1000;
  // Idle a while: what an idle connection costs must not grow with time.
  await new Promise((r) => setTimeout(r, 2000));
  const idle = sample();
  const connected = n - failed;
  post({
    type: 'conns',
    kind,
    n,
    connected,
    accepted,
    setupSeconds,
    perSecond: connected / setupSeconds,
    rssPerConnKB: (idle.rss - before.rss) / n / 1000,
    heapPerConnKB: (idle.heap - before.heap) / n / 1000,
    sockets: sockets.length,
  });
}

main().catch((err: unknown) => {
  if (process.send) process.send({ type: 'error', message: String(err) }, () => process.exit(1));
  else throw err;
});
