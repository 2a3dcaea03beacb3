/**
 * A burst of clients: N clients connect at once to one echo server, each sends one byte, reads it
 * back and ends. Server and clients run in two child processes (one per side); each reports its
 * peak RSS, and the client side the wall time from the first connect() to the last echo.
 *
 *   npx tsx bench/burst.ts [N] [--kinds=net,utpx] [--runs=3] [--backlog=B]
 *
 * `net` is TCP through node:net; `utpx` the same code through utpx's connect()/createServer()
 * (every client a one-off connect() with a UDP port of its own, as net's clients have a TCP port each).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import * as utpx from '../src/index.js';

type Kind = 'net' | 'utpx';
interface Api {
  createServer(onConnection: (s: net.Socket) => void): {
    listen(port: number, host: string, cb: () => void): unknown;
    address(): unknown;
    close(cb?: () => void): unknown;
  };
  connect(port: number, host: string): net.Socket;
}
const apis: Record<Kind, Api> = {
  net: net as unknown as Api,
  utpx: utpx as unknown as Api,
};

interface Report {
  kind: Kind;
  n: number;
  connected: number;
  echoed: number;
  seconds: number;
  clientRssMiB: number;
  serverRssMiB: number;
  errors: Record<string, number>;
}

const peakRssMiB = (): number => process.resourceUsage().maxRSS / 1024;

async function serve(kind: Kind, backlog: number | undefined): Promise<void> {
  const api = apis[kind];
  let accepted = 0;
  const onConnection = (s: net.Socket) => {
    accepted++;
    s.on('error', () => {});
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
  };
  const server =
    kind === 'utpx' && backlog !== undefined
      ? (utpx.createServer(
          { maxHalfOpen: backlog },
          onConnection as unknown as (s: utpx.Socket) => void,
        ) as unknown as ReturnType<Api['createServer']>)
      : api.createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  process.send?.({ type: 'listening', port });
  process.on('message', (m: { type: string }) => {
    if (m.type !== 'report') return;
    process.send?.({ type: 'server', accepted, rssMiB: peakRssMiB() });
    server.close();
    setTimeout(() => process.exit(0), 100).unref();
  });
}

async function clients(kind: Kind, port: number, n: number): Promise<void> {
  const api = apis[kind];
  let connected = 0;
  let echoed = 0;
  let closed = 0;
  const errors: Record<string, number> = {};
  const t0 = performance.now();
  let t1 = 0;
  await new Promise<void>((resolve) => {
    for (let i = 0; i < n; i++) {
      const c = api.connect(port, '127.0.0.1');
      c.on('connect', () => {
        connected++;
        c.write('x');
      });
      c.on('data', () => {
        echoed++;
        if (echoed === n) t1 = performance.now();
        c.end();
      });
      c.on('error', (err: NodeJS.ErrnoException) => {
        errors[err.code ?? err.message] = (errors[err.code ?? err.message] ?? 0) + 1;
      });
      c.on('close', () => {
        if (++closed === n) resolve();
      });
    }
  });
  if (t1 === 0) t1 = performance.now();
  process.send?.({ type: 'clients', connected, echoed, seconds: (t1 - t0) / 1000, rssMiB: peakRssMiB(), errors });
  setTimeout(() => process.exit(0), 100).unref();
}

function child(args: string[]): ChildProcess {
  // BURST_PROF=dir writes a CPU profile of each side there.
  const prof = process.env.BURST_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BURST_PROF}`] : [];
  return fork(fileURLToPath(import.meta.url), args, { execArgv: ['--import', 'tsx', ...prof], stdio: 'inherit' });
}

function next<T>(p: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string }) => {
      if (m.type !== type) return;
      p.off('message', onMessage);
      resolve(m as T);
    };
    p.on('message', onMessage);
    p.once('exit', (code) => reject(new Error(`child exited (${code}) before '${type}'`)));
  });
}

/** One burst of `n` clients against a fresh server, in two fresh processes. */
export async function burst(kind: Kind, n: number, backlog?: number): Promise<Report> {
  const server = child(['serve', kind, ...(backlog === undefined ? [] : [String(backlog)])]);
  try {
    const { port } = await next<{ port: number }>(server, 'listening');
    const c = child(['clients', kind, String(port), String(n)]);
    const r = await next<{
      connected: number;
      echoed: number;
      seconds: number;
      rssMiB: number;
      errors: Record<string, number>;
    }>(c, 'clients');
    await once(c, 'exit');
    server.send({ type: 'report' });
    const s = await next<{ rssMiB: number }>(server, 'server');
    return {
      kind,
      n,
      connected: r.connected,
      echoed: r.echoed,
      seconds: r.seconds,
      clientRssMiB: r.rssMiB,
      serverRssMiB: s.rssMiB,
      errors: r.errors,
    };
  } finally {
    server.kill();
  }
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'serve') await serve(rest[0] as Kind, rest[1] === undefined ? undefined : Number(rest[1]));
else if (mode === 'clients') await clients(rest[0] as Kind, Number(rest[1]), Number(rest[2]));
else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const n = Number(args.find((a) => !a.startsWith('--')) ?? 1000);
  const kinds = (flag('kinds') ?? 'net,utpx').split(',') as Kind[];
  const runs = Number(flag('runs') ?? 3);
  // utpx's maxHalfOpen (default 511, as net's backlog): --backlog=1000 shows the cost without SYN retries.
  const backlog = flag('backlog') === undefined ? undefined : Number(flag('backlog'));
  console.log(`burst: ${n} clients at once to one echo server on 127.0.0.1, node ${process.version}`);
  for (let run = 0; run < runs; run++) {
    for (const kind of kinds) {
      const r = await burst(kind, n, backlog);
      const errs = Object.entries(r.errors)
        .map(([k, v]) => `${k}×${v}`)
        .join(' ');
      console.log(
        `${kind.padEnd(5)} ${r.echoed}/${n} echoed in ${r.seconds.toFixed(2)} s; peak RSS clients ${r.clientRssMiB.toFixed(0)} MiB, server ${r.serverRssMiB.toFixed(0)} MiB${errs ? `; errors ${errs}` : ''}`,
      );
    }
  }
}
