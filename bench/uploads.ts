/**
 * Bursts into libutp: N utpx clients (each a one-off connect()) upload `KiB` each at once to one
 * utp-native (libutp) server, whose socket keeps the kernel's default ~208 KiB receive buffer. A
 * window's worth of packets from each client arrives at once and overflows it: how fast the
 * senders repair the losses decides the time.
 *
 *   npx tsx bench/uploads.ts [--clients=20] [--kib=256] [--runs=3]
 */
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { connect } from '../src/io/index.js';
import { median } from './lib/measure.js';

interface UtpNative {
  on(e: 'connection', f: (c: Duplex) => void): void;
  listen(p: number, h: string, cb: () => void): void;
  address(): { port: number };
  close(): void;
}

/** Seconds from the first connect() until the server has every byte of every client (NaN on a 30 s timeout). */
export async function uploadBurst(clients: number, kib: number): Promise<number> {
  const server = (createRequire(import.meta.url)('utp-native') as () => UtpNative)();
  const bytes = kib * 1024;
  const sockets: Duplex[] = [];
  try {
    return await new Promise<number>((resolve) => {
      let done = 0;
      const timer = setTimeout(() => resolve(Number.NaN), 30_000);
      let t0 = 0;
      server.on('connection', (c) => {
        let got = 0;
        c.on('error', () => {});
        c.on('data', (d: Buffer) => {
          got += d.length;
          if (got < bytes || got - d.length >= bytes) return;
          c.end();
          if (++done === clients) {
            clearTimeout(timer);
            resolve((performance.now() - t0) / 1000);
          }
        });
      });
      server.listen(0, '127.0.0.1', () => {
        t0 = performance.now();
        for (let i = 0; i < clients; i++) {
          const s = connect(server.address().port, '127.0.0.1');
          s.on('error', () => {});
          s.end(Buffer.alloc(bytes, i));
          s.resume();
          sockets.push(s as unknown as Duplex);
        }
      });
    });
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const flag = (n: string) => args.find((a) => a.startsWith(`--${n}=`))?.slice(n.length + 3);
  const clients = Number(flag('clients') ?? 20);
  const kib = Number(flag('kib') ?? 256);
  const runs = Number(flag('runs') ?? 3);
  const times: number[] = [];
  for (let r = 0; r < runs; r++) times.push(await uploadBurst(clients, kib));
  console.log(
    `${clients} utpx clients × ${kib} KiB → one libutp server: ${times.map((t) => t.toFixed(2)).join(', ')} s (median ${median(times).toFixed(2)} s)`,
  );
  process.exit(0);
}
