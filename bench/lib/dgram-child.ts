/**
 * The raw `dgram` ceiling: what Node moves in 1,472-byte datagrams over 127.0.0.1 with no protocol
 * at all, driven by ../dgram-ceiling.ts (or bench/all.ts).
 *
 *   argv: recv | send <port> | both    [bytes] [datagram size]
 *
 * The sender keeps at most WINDOW datagrams unconfirmed: the receiver answers each event-loop turn
 * in which it read anything with one 8-byte credit datagram (the count so far), the least feedback
 * any transport needs so it does not overrun the receiver's socket buffer. That is the shape of
 * every UDP transport (uTP's acks per turn included) minus everything else a protocol does, so
 * utpx's figures can be read as a fraction of it. Loss is not repaired: the sender stops at the
 * byte count and the receiver reports what arrived (the window keeps loss at 0 in practice).
 *
 * Messages to the parent are the same ChildMessage values as transfer-child.ts.
 */
import dgram from 'node:dgram';
import { postToParent } from './child.js';
import { type ChildMessage, timedTransfer } from './measure.js';

const role = process.argv[2] ?? 'both';
const port = Number(process.argv[3]);
const bytes = Number(process.argv[4] ?? 128 * 1024 * 1024);
const SIZE = Number(process.argv[5] ?? 1472);
/** Datagrams in flight at most: ~1.5 MB at 1,472 bytes, well inside a 4 MiB socket buffer. */
const WINDOW = 1024;
const BUFFER = 4 * 1024 * 1024;
const total = Math.ceil(bytes / SIZE);
const lookup = (host: string, _o: unknown, cb: (e: null, a: string, f: number) => void): void => cb(null, host, 4);

const post = (m: ChildMessage, exitAfter?: number): void => postToParent(m, exitAfter);

async function socket(): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type: 'udp4', lookup: lookup as never });
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  s.setRecvBufferSize(BUFFER);
  s.setSendBufferSize(BUFFER);
  return s;
}

/** Counts datagrams; one credit per event-loop turn with input. */
async function receiver(startClock: boolean): Promise<{ port: number; start: () => void }> {
  const s = await socket();
  let got = 0;
  let received = 0;
  let t0 = 0;
  let cpu0 = process.cpuUsage();
  let pending = false;
  let from = 0;
  const credit = Buffer.alloc(8);
  const start = (): void => {
    t0 = performance.now();
    cpu0 = process.cpuUsage();
  };
  const stall = setInterval(() => {
    if (t0 > 0 && performance.now() - t0 > 60_000) finish('stalled');
  }, 1000);
  stall.unref();
  const finish = (error?: string): void => {
    const result = timedTransfer('dgram', received, received, t0, cpu0, error);
    post({ type: 'result', result }, 0);
  };
  const answer = (): void => {
    pending = false;
    credit.writeUInt32LE(got, 0);
    s.send(credit, 0, 8, from, '127.0.0.1');
    if (got >= total) finish();
  };
  s.on('message', (msg, rinfo) => {
    if (startClock && t0 === 0) start();
    got++;
    received += msg.length;
    from = rinfo.port;
    if (!pending) {
      pending = true;
      setImmediate(answer);
    }
  });
  return { port: s.address().port, start };
}

async function sender(to: number): Promise<void> {
  const s = await socket();
  const buf = Buffer.alloc(SIZE, 0x5a);
  let sent = 0;
  let confirmed = 0;
  const pump = (): void => {
    while (sent < total && sent - confirmed < WINDOW) {
      s.send(buf, 0, SIZE, to, '127.0.0.1');
      sent++;
    }
  };
  s.on('message', (msg) => {
    const n = msg.readUInt32LE(0);
    if (n > confirmed) confirmed = n;
    if (!scheduled) {
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        pump();
      });
    }
  });
  let scheduled = false;
  pump();
}

async function main(): Promise<void> {
  if (role === 'recv') {
    const rx = await receiver(true);
    post({ type: 'listening', port: rx.port });
  } else if (role === 'send') {
    const cpu0 = process.cpuUsage();
    process.on('message', () => {
      const cpu = process.cpuUsage(cpu0);
      const rss = process.resourceUsage().maxRSS / 1024;
      post({ type: 'cpu', cpuUserSeconds: cpu.user / 1e6, cpuSystemSeconds: cpu.system / 1e6, maxRssMiB: rss }, 0);
    });
    await sender(port);
  } else {
    const rx = await receiver(false);
    rx.start();
    await sender(rx.port);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
