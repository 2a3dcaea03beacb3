/**
 * One bulk flow, or a delay probe, for the bottleneck benchmark (../bottleneck.ts). Runs inside a
 * network namespace (`ip netns exec`), so it talks JSON lines on stdout instead of IPC.
 *
 *   recv  <kind> <port>                 listens; prints {"t":ms,"bytes":n} every 100 ms
 *   send  <kind> <host> <port> <secs>   writes as fast as the transport takes it for <secs>
 *   echo  <port>                        UDP echo (the probe's far end)
 *   probe <host> <port> <secs>          a 32-byte UDP probe every 50 ms; prints {"t":ms,"rttUs":n}
 *
 * Kinds: tcp (the namespace's default congestion control), utp-native (libutp), utpx.
 */
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as utpxConnect, createServer as utpxServer } from '../../src/io/index.js';

const [role = '', ...rest] = process.argv.slice(2);
const out = (m: unknown): void => {
  process.stdout.write(`${JSON.stringify(m)}\n`);
};

interface UtpNative {
  on(e: 'connection', f: (c: Duplex) => void): void;
  listen(p: number, h: string, cb: () => void): void;
  connect(p: number, h: string): Duplex;
}
const utpNative = (): UtpNative => (createRequire(import.meta.url)('utp-native') as () => UtpNative)();

async function recv(kind: string, port: number): Promise<void> {
  let bytes = 0;
  const onStream = (s: Duplex): void => {
    s.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    s.on('error', () => {});
  };
  if (kind === 'tcp') net.createServer(onStream).listen(port, '0.0.0.0');
  else utpxServer((s) => onStream(s as unknown as Duplex)).listen(port, '0.0.0.0');
  const t0 = performance.now();
  setInterval(() => out({ t: Math.round(performance.now() - t0), bytes }), 100);
  out({ ready: true });
}

async function recvNative(port: number): Promise<void> {
  let bytes = 0;
  const u = utpNative();
  u.on('connection', (s) => {
    s.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    s.on('error', () => {});
  });
  u.listen(port, '0.0.0.0', () => out({ ready: true }));
  const t0 = performance.now();
  setInterval(() => out({ t: Math.round(performance.now() - t0), bytes }), 100);
}

function send(kind: string, host: string, port: number, secs: number): void {
  const s: Duplex =
    kind === 'tcp'
      ? net.connect(port, host)
      : kind === 'utp-native'
        ? utpNative().connect(port, host)
        : (utpxConnect(port, host) as unknown as Duplex);
  s.on('error', (e: Error) => out({ error: e.message }));
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const until = performance.now() + secs * 1000;
  const pump = (): void => {
    while (performance.now() < until) {
      if (!s.write(chunk)) {
        s.once('drain', pump);
        return;
      }
    }
    s.destroy();
    setTimeout(() => process.exit(0), 200);
  };
  pump();
}

function echo(port: number): void {
  const u = dgram.createSocket('udp4');
  u.on('message', (m, r) => u.send(m, r.port, r.address));
  u.bind(port, '0.0.0.0', () => out({ ready: true }));
}

function probe(host: string, port: number, secs: number): void {
  const u = dgram.createSocket('udp4');
  const sentAt = new Map<number, number>();
  let n = 0;
  const t0 = performance.now();
  u.on('message', (m) => {
    const id = m.readUInt32BE(0);
    const at = sentAt.get(id);
    if (at === undefined) return;
    sentAt.delete(id);
    out({ t: Math.round(performance.now() - t0), rttUs: Math.round((performance.now() - at) * 1000) });
  });
  u.bind(0, () => {
    const timer = setInterval(() => {
      const b = Buffer.alloc(32);
      b.writeUInt32BE(++n, 0);
      sentAt.set(n, performance.now());
      u.send(b, port, host);
    }, 50);
    setTimeout(() => {
      clearInterval(timer);
      setTimeout(() => process.exit(0), 1500);
    }, secs * 1000);
  });
}

if (role === 'recv') {
  const [kind = 'utpx', port = '9000'] = rest;
  if (kind === 'utp-native') await recvNative(Number(port));
  else await recv(kind, Number(port));
} else if (role === 'send') {
  const [kind = 'utpx', host = '', port = '9000', secs = '10'] = rest;
  send(kind, host, Number(port), Number(secs));
} else if (role === 'echo') echo(Number(rest[0] ?? 9999));
else if (role === 'probe') probe(rest[0] ?? '', Number(rest[1] ?? 9999), Number(rest[2] ?? 10));
else throw new Error(`bad role '${role}'`);
