/**
 * LEDBAT next to a loss-based flow, for docs/protocol.md: utpx sends in bulk from A to B through a
 * 10 Mbit/s bottleneck with a 20 ms round trip and a drop-tail queue of 200 full-size packets
 * (~240 ms at that rate). A NewReno flow (src/sim/reno.ts) joins through the same bottleneck for the
 * middle third of the run and leaves again. Sampled every 50 ms of simulated time: utpx's cwnd and
 * queuing delay, and both flows' delivered bytes.
 */
import type { Connection } from '../../src/protocol.js';
import { TARGET_DELAY_US } from '../../src/protocol.js';
import { createSimEndpoint, RenoFlow, SimNetwork } from '../../src/sim/index.js';

export const LEDBAT_RUN = {
  seed: 6817,
  bandwidthMbps: 10,
  delayUs: 10_000,
  queuePackets: 200,
  durationS: 30,
  renoFromS: 10,
  renoUntilS: 20,
  sampleUs: 50_000,
} as const;

export interface LedbatSample {
  t: number;
  cwnd: number;
  queuingDelayMs: number;
  /** Mbit/s over the last sample interval. */
  utpxMbps: number;
  renoMbps: number;
}

export interface LedbatRun {
  samples: LedbatSample[];
  /** Means over windows: LEDBAT alone, with Reno, alone again (the first 2 s of each left out). */
  phases: Array<{ name: string; utpxMbps: number; renoMbps: number; queuingDelayMs: number; cwnd: number }>;
  targetMs: number;
}

export function runLedbat(): LedbatRun {
  const R = LEDBAT_RUN;
  const net = new SimNetwork({ seed: R.seed });
  const A = '10.0.0.1';
  const B = '10.0.0.2';
  net.setPath(A, B, { delayUs: R.delayUs, bandwidthBps: R.bandwidthMbps * 1e6, queueBytes: R.queuePackets * 1500 });
  const a = createSimEndpoint(net, A, 40000);
  const b = createSimEndpoint(net, B, 6881);
  let received = 0;
  b.endpoint.onConnection = (conn) => {
    conn.events.onData = (p) => {
      received += p.length;
    };
  };
  const conn: Connection = a.endpoint.connect(6881, B);
  const chunk = new Uint8Array(256 * 1024);
  const fill = () => {
    while (conn.write(chunk)) {
      /* keep the send queue full */
    }
  };
  conn.events.onConnect = fill;
  conn.events.onDrain = fill;
  const reno = new RenoFlow({ net, from: A, to: B });
  const t0 = net.now();
  const samples: LedbatSample[] = [];
  let lastUtpx = 0;
  let lastReno = 0;
  let renoOn = false;
  const sample = () => {
    const t = (net.now() - t0) / 1e6;
    if (!renoOn && t >= R.renoFromS && t < R.renoUntilS) {
      reno.start();
      renoOn = true;
    } else if (renoOn && t >= R.renoUntilS) {
      reno.stop();
      renoOn = false;
    }
    const s = conn.stats();
    const renoBytes = reno.bytesDelivered;
    const per = R.sampleUs / 1e6;
    samples.push({
      t,
      cwnd: s.cwnd,
      queuingDelayMs: s.queuingDelayUs / 1000,
      utpxMbps: ((received - lastUtpx) * 8) / per / 1e6,
      renoMbps: ((renoBytes - lastReno) * 8) / per / 1e6,
    });
    lastUtpx = received;
    lastReno = renoBytes;
    if (t < R.durationS) net.timers.schedule(net.now() + R.sampleUs, sample);
  };
  net.timers.schedule(net.now() + R.sampleUs, sample);
  net.run({ maxTimeUs: R.durationS * 1e6 + R.sampleUs });
  conn.destroy();
  a.close();
  b.close();
  reno.stop();

  const mean = (from: number, to: number, f: (s: LedbatSample) => number) => {
    const xs = samples.filter((s) => s.t > from && s.t <= to).map(f);
    return xs.reduce((x, y) => x + y, 0) / xs.length;
  };
  const phase = (name: string, from: number, to: number) => ({
    name,
    utpxMbps: mean(from, to, (s) => s.utpxMbps),
    renoMbps: mean(from, to, (s) => s.renoMbps),
    queuingDelayMs: mean(from, to, (s) => s.queuingDelayMs),
    cwnd: mean(from, to, (s) => s.cwnd),
  });
  const run: LedbatRun = {
    samples,
    phases: [
      phase('utpx alone', 2, R.renoFromS),
      phase('with Reno', R.renoFromS + 2, R.renoUntilS),
      phase('alone again', R.renoUntilS + 2, R.durationS),
    ],
    targetMs: TARGET_DELAY_US / 1000,
  };
  checkLedbat(run);
  return run;
}

/** What the page says about the run must hold: LEDBAT fills an empty link near its target and yields to Reno. */
export function checkLedbat(run: LedbatRun): void {
  const [alone, shared, again] = run.phases as [LedbatRun['phases'][0], LedbatRun['phases'][0], LedbatRun['phases'][0]];
  const link = LEDBAT_RUN.bandwidthMbps;
  const problems: string[] = [];
  if (!(alone.utpxMbps > 0.8 * link)) problems.push(`utpx alone used ${alone.utpxMbps.toFixed(1)} Mbit/s`);
  if (!(Math.abs(alone.queuingDelayMs - run.targetMs) < 0.3 * run.targetMs)) {
    problems.push(`utpx alone kept the queue at ${alone.queuingDelayMs.toFixed(0)} ms`);
  }
  if (!(shared.renoMbps > 2 * shared.utpxMbps)) {
    problems.push(`with Reno, utpx ${shared.utpxMbps.toFixed(1)} vs Reno ${shared.renoMbps.toFixed(1)} Mbit/s`);
  }
  if (!(again.utpxMbps > 0.8 * link)) problems.push(`utpx after Reno used ${again.utpxMbps.toFixed(1)} Mbit/s`);
  if (problems.length > 0) {
    throw new Error(
      `the LEDBAT run in scripts/docs/ledbat-run.ts no longer shows what docs/protocol.md says: ${problems.join('; ')}`,
    );
  }
}
