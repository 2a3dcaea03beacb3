/**
 * Micro-benchmark of the per-packet core modules, without sockets or a connection around them.
 *
 *   npm run bench:modules            (= tsx bench/modules.ts [packets])
 *
 *   send    allocate → write header + 1380 B payload → onSent → onAck (cumulative, every 2nd packet)
 *   recv    receive → deliver in order (+ shift() drain), and SACK written every 2nd packet if a gap is open;
 *           once in order and once with 10 % of packets delayed by 1–4 places
 *
 * Each case runs a warm-up, then `runs` timed passes; the median ns/packet is printed. The heap is
 * measured around one extra steady-state pass after a forced GC; with no GC in the pass, the growth
 * is what the pass allocated, so ≈ 0 B/packet shows the path allocates nothing per packet.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createAckResult, InFlightPackets } from '../src/core/in-flight.js';
import { ReorderBuffer } from '../src/core/reorder-buffer.js';
import { seqAdd } from '../src/wire/seq.js';

const PACKETS = Number(process.argv[2] ?? 1_000_000);
const WARMUP = Math.min(PACKETS, 200_000);
const RUNS = 5;
const HEADER = 20;
const PAYLOAD = 1380;

// `npm run bench:modules` runs plain tsx; expose gc from inside instead of needing --expose-gc.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let gcCount = 0;
new PerformanceObserver((list) => {
  gcCount += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });

/** Results feed this so no loop can be optimised away. */
let sink = 0;

/* ------------------------------------------------------------------------------------------------ */

function makeSender() {
  const sb = new InFlightPackets({ capacity: 1024, packetBytes: HEADER + PAYLOAD, initialSeq: 65000 });
  const res = createAckResult();
  let now = 0;
  return (n: number): void => {
    let acked = 0;
    for (let i = 0; i < n; i++) {
      const p = sb.allocate(PAYLOAD);
      const buf = p.buf;
      const seq = p.seqNr;
      // The minimal header a connection fills per packet: type/version, seq_nr, timestamp.
      buf[0] = 0x01;
      buf[16] = seq >>> 8;
      buf[17] = seq & 0xff;
      buf[4] = now >>> 24;
      buf[5] = (now >>> 16) & 0xff;
      buf[6] = (now >>> 8) & 0xff;
      buf[7] = now & 0xff;
      buf[HEADER] = i & 0xff;
      p.length = HEADER + PAYLOAD;
      now += 10;
      sb.onSent(p, now);
      if ((i & 1) === 1) {
        sb.onAck(seq, undefined, now + 50_000, true, res);
        acked += res.ackedBytes;
      }
    }
    // Once per pass: a module-level number past the Smi range is boxed anew on every write.
    sink += acked;
  };
}

/** Arrival order: seqs in order except that `reorder` of them are delayed by 1–4 places (seeded). */
function arrivals(n: number, reorder: number, initial: number): Uint16Array {
  const order = new Uint16Array(n);
  for (let i = 0; i < n; i++) order[i] = seqAdd(initial, i);
  let x = 0x9e3779b9;
  const rand = () => {
    // xorshift32: deterministic, no allocation
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  for (let i = 0; i + 4 < n; i++) {
    if (rand() < reorder) {
      const j = i + 1 + Math.floor(rand() * 4);
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
  }
  return order;
}

function makeReceiver(reorder: number, total: number) {
  const initial = 100;
  const order = arrivals(total, reorder, seqAdd(initial, 1));
  // Datagram payloads as views, as decode() hands them out; a pool so the loop allocates none.
  const backing = new Uint8Array(64 * PAYLOAD);
  const pool: Uint8Array[] = [];
  for (let i = 0; i < 64; i++) pool.push(backing.subarray(i * PAYLOAD, (i + 1) * PAYLOAD));
  const rb = new ReorderBuffer({ capacity: 1024 });
  rb.init(initial);
  const sack = new Uint8Array(32);
  let at = 0;
  return (n: number): void => {
    let bytes = 0;
    for (let i = 0; i < n; i++, at++) {
      const seq = order[at % total]!;
      const payload = pool[seq & 63]!;
      if (rb.receive(seq, payload) === 'in-order') {
        bytes += payload.length;
        for (let p = rb.shift(); p !== undefined; p = rb.shift()) bytes += p.length;
      }
      if ((i & 1) === 1 && rb.bufferedCount > 0) bytes += rb.writeSack(sack);
    }
    sink += bytes;
  };
}

/* ------------------------------------------------------------------------------------------------ */

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

async function bench(name: string, step: (n: number) => void): Promise<void> {
  step(WARMUP);
  const ns: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    step(PACKETS);
    ns.push(Number(process.hrtime.bigint() - t0) / PACKETS);
  }
  gc();
  await new Promise((r) => setTimeout(r, 50)); // let the observer count the forced GC before we start
  const gcBefore = gcCount;
  const h0 = process.memoryUsage().heapUsed;
  step(PACKETS);
  const h1 = process.memoryUsage().heapUsed;
  await new Promise((r) => setTimeout(r, 50));
  const gcs = gcCount - gcBefore;
  const growth = h1 - h0;
  console.log(
    `${name.padEnd(34)} ${median(ns).toFixed(1).padStart(7)} ns/packet  ` +
      `(min ${Math.min(...ns).toFixed(1)}, max ${Math.max(...ns).toFixed(1)})  ` +
      `heap ${growth >= 0 ? '+' : ''}${(growth / 1024).toFixed(1)} KiB over ${PACKETS} packets = ` +
      `${(growth / PACKETS).toFixed(3)} B/packet, ${gcs} GC${gcs === 1 ? '' : 's'} during the pass`,
  );
}

console.log(
  `bench:modules — ${PACKETS} packets per pass, ${RUNS} passes after ${WARMUP} warm-up, node ${process.version}`,
);
await bench('send → ack → free', makeSender());
await bench('receive → deliver, in order', makeReceiver(0, 1 << 20));
await bench('receive → reorder → deliver, 10 %', makeReceiver(0.1, 1 << 20));
if (sink === 0) console.log('(nothing was processed?)');
