/**
 * Child process for the latency benchmark (../latency.ts): a 1-byte ping-pong over 127.0.0.1.
 *
 *   argv: <kind> server            → posts { type: 'listening', port }, echoes every byte back
 *   argv: <kind> client <port> <n> → posts { type: 'latency', samplesUs } after n round trips
 *
 * <kind> is one of ./kinds.ts, or 'dgram' (bare node:dgram, the floor under any UDP transport).
 *
 * The client writes one byte, waits for the echo, and writes the next at once: each round trip is
 * a lone small write on both sides, so nothing may hold it (or its ack) for a batch to fill.
 */
import dgram from 'node:dgram';
import type { Duplex } from 'node:stream';
import { postToParent } from './child.js';
import { kinds } from './kinds.js';

const [kindName = 'utpx', role = 'server', portArg = '0', nArg = '5000'] = process.argv.slice(2);

const post = (m: unknown, exitAfter?: number): void => postToParent(m, exitAfter);

/**
 * Kind 'dgram': the same ping-pong over bare node:dgram sockets, no protocol at all — the floor for
 * any transport built on dgram (Node's per-datagram cost on both sides of each hop).
 */
async function rawDgram(): Promise<void> {
  const literal = (host: string, _o: unknown, cb: (e: null, a: string, f: number) => void): void => cb(null, host, 4);
  const sock = dgram.createSocket({ type: 'udp4', lookup: literal as never });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  if (role === 'server') {
    process.on('SIGINT', () => process.exit(0));
    sock.on('message', (m, from) => sock.send(m, from.port, from.address));
    post({ type: 'listening', port: sock.address().port });
    return;
  }
  const one = Buffer.from([0x2a]);
  sock.connect(Number(portArg), '127.0.0.1', () => {
    const trips = roundTrips(Number(nArg), () => sock.send(one));
    sock.on('message', () => trips.echoed());
    trips.start();
  });
}

/**
 * The client's side: `start()` sends the first byte; `echoed()`, once per byte back, records the
 * round trip (after 500 of warm-up: JIT, first acks) and sends the next, or posts the samples after n.
 */
function roundTrips(n: number, send: () => void): { start(): void; echoed(): boolean } {
  const warmup = Math.min(500, n);
  const samples: number[] = [];
  let i = 0;
  let t0 = 0;
  return {
    start() {
      t0 = performance.now();
      send();
    },
    /** False once the last round trip is in. */
    echoed() {
      const t = performance.now();
      if (i >= warmup) samples.push((t - t0) * 1000);
      i++;
      if (i >= n + warmup) {
        post({ type: 'latency', samplesUs: samples }, 0);
        return false;
      }
      t0 = performance.now();
      send();
      return true;
    },
  };
}

async function main(): Promise<void> {
  if (kindName === 'dgram') return rawDgram();
  const load = kinds[kindName];
  if (load === undefined) throw new Error(`unknown kind '${kindName}'`);
  const kind = await load();
  if (role === 'server') {
    // Exit cleanly on SIGINT, so `node --cpu-prof` writes its profile.
    process.on('SIGINT', () => process.exit(0));
    const l = await kind.listen((s: Duplex) => {
      s.on('data', (d: Buffer) => s.write(d));
      s.on('error', () => {});
    });
    post({ type: 'listening', port: l.port });
    return;
  }
  const s = await kind.connect(Number(portArg));
  const one = Buffer.from([0x2a]);
  const trips = roundTrips(Number(nArg), () => s.write(one));
  s.on('data', (d: Buffer) => {
    for (let k = 0; k < d.length; k++) if (!trips.echoed()) return;
  });
  s.on('error', (err: Error) => post({ type: 'error', message: err.message }, 1));
  trips.start();
}

main().catch((err: unknown) => post({ type: 'error', message: String(err) }, 1));
