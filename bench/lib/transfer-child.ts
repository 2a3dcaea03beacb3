/**
 * Child process entry for one bulk transfer over 127.0.0.1, driven by measure() in ./measure.ts.
 *
 *   argv: <kind> <bytes> [both|recv|send] [port]
 *
 * 'both' (the default) runs sender and receiver in this process, so process.cpuUsage() covers both
 * ends (and their GC) and nothing else. 'recv' and 'send' run one end each, for measuring with the
 * two ends on separate cores. Messages to the parent are ChildMessage values over IPC.
 */
import type { Duplex } from 'node:stream';
import { postToParent } from './child.js';
import { kinds, type StreamKind } from './kinds.js';
import { type ChildMessage, type TransferResult, timedTransfer } from './measure.js';
import { noisePool } from './noise.js';

const CHUNK = 64 * 1024;
/** The stream is this payload repeated; pseudo-random so no layer can compress or shortcut it. */
const PAYLOAD = 1024 * 1024;
/** Give up when no byte arrived for this long. */
const STALL_MS = 20_000;

const kindName = process.argv[2] ?? '';
const bytes = Number(process.argv[3]);
const role = process.argv[4] ?? 'both';
const port = Number(process.argv[5]);

const post = (m: ChildMessage, exitAfter?: number): void => postToParent(m, exitAfter);

function fail(error: string): void {
  const r: TransferResult = {
    kind: kindName,
    bytes,
    received: 0,
    seconds: 0,
    cpuUserSeconds: 0,
    cpuSystemSeconds: 0,
    maxRssMiB: 0,
    ok: false,
    error,
  };
  post({ type: 'result', result: r }, 1);
}

/** The same bytes in every process (sender and receiver may be different children): fixed seed. */
function makePayload(): Buffer {
  return noisePool(0x2545f491, PAYLOAD);
}

/**
 * Compares a received chunk with the bytes expected at stream offset `at`. memcmp costs a few
 * hundredths of a CPU-second per GB, where SHA-256 would add ~0.5 s/GB to every kind and keeping
 * the chunks to hash later would change the GC load (utp-native delivers one small Buffer per packet).
 */
function matches(payload: Buffer, chunk: Buffer, at: number): boolean {
  let done = 0;
  while (done < chunk.length) {
    const off = (at + done) % PAYLOAD;
    const n = Math.min(chunk.length - done, PAYLOAD - off);
    if (!chunk.subarray(done, done + n).equals(payload.subarray(off, off + n))) return false;
    done += n;
  }
  return true;
}

/**
 * Listens and counts/verifies what arrives. The clock starts at `startClock()` (called by the
 * sender in 'both' mode, at the first accepted connection otherwise) and stops at the last byte.
 */
async function receiver(kind: StreamKind, payload: Buffer, startOnAccept: boolean) {
  let received = 0;
  let corruptAt = -1;
  let t0 = 0;
  let cpu0: NodeJS.CpuUsage = { user: 0, system: 0 };
  let lastProgress = performance.now();
  let done = false;

  const startClock = (): void => {
    cpu0 = process.cpuUsage();
    t0 = performance.now();
    lastProgress = t0;
  };

  const finish = (error?: string): void => {
    if (done) return;
    done = true;
    if (error === undefined && corruptAt >= 0)
      error = `data differs from what was sent in the chunk at byte ${corruptAt}`;
    if (error === undefined && received !== bytes) error = `received ${received} of ${bytes} bytes`;
    const result = timedTransfer(kindName, bytes, received, t0, cpu0, error);
    post({ type: 'result', result }, result.ok ? 0 : 1);
  };

  const watchdog = setInterval(() => {
    if (t0 > 0 && performance.now() - lastProgress > STALL_MS) {
      finish(`stalled after ${received} of ${bytes} bytes`);
    }
  }, 1000);
  watchdog.unref();

  const listener = await kind.listen((s: Duplex) => {
    if (startOnAccept && t0 === 0) startClock();
    s.on('data', (chunk: Buffer) => {
      if (corruptAt < 0 && received + chunk.length <= bytes && !matches(payload, chunk, received)) corruptAt = received;
      received += chunk.length;
      lastProgress = performance.now();
      if (received >= bytes) finish();
    });
    s.on('error', (err: Error) => finish(`receiver: ${err.message}`));
  });
  return { port: listener.port, startClock, finish };
}

async function sender(kind: StreamKind, payload: Buffer, to: number, onError: (m: string) => void): Promise<void> {
  const out = await kind.connect(to);
  if (process.env.UTPX_BENCH_STATS) {
    const stats = (out as { stats?: () => unknown }).stats;
    process.on('message', () => console.error('sender', JSON.stringify(stats?.call(out))));
  }
  out.on('error', (err: Error) => onError(`sender: ${err.message}`));
  let sent = 0;
  const pump = (): void => {
    while (sent < bytes) {
      const off = sent % PAYLOAD;
      const n = Math.min(CHUNK, bytes - sent, PAYLOAD - off);
      sent += n;
      if (!out.write(payload.subarray(off, off + n))) {
        out.once('drain', pump);
        return;
      }
    }
    out.end();
  };
  pump();
}

async function main(): Promise<void> {
  const load = kinds[kindName];
  if (load === undefined) throw new Error(`unknown kind '${kindName}' (known: ${Object.keys(kinds).join(', ')})`);
  if (!(bytes > 0)) throw new Error(`bad byte count '${process.argv[3]}'`);
  const kind = await load();
  const payload = makePayload();

  if (role === 'both') {
    const rx = await receiver(kind, payload, false);
    rx.startClock();
    await sender(kind, payload, rx.port, rx.finish);
  } else if (role === 'recv') {
    const rx = await receiver(kind, payload, true);
    post({ type: 'listening', port: rx.port });
  } else if (role === 'send') {
    if (!(port > 0)) throw new Error(`bad port '${process.argv[5]}'`);
    const cpu0 = process.cpuUsage();
    // Exit cleanly on SIGINT, so `node --cpu-prof` writes its profile (bench/profile.ts).
    process.on('SIGINT', () => process.exit(0));
    // The parent asks once the receiver has everything; the sender's CPU up to then is its share.
    process.on('message', () => {
      const cpu = process.cpuUsage(cpu0);
      const rss = process.resourceUsage().maxRSS / 1024;
      post({ type: 'cpu', cpuUserSeconds: cpu.user / 1e6, cpuSystemSeconds: cpu.system / 1e6, maxRssMiB: rss }, 0);
    });
    await sender(kind, payload, port, (m) => fail(m));
  } else {
    throw new Error(`bad role '${role}'`);
  }
}

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
