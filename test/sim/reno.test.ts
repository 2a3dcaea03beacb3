import { describe, expect, it } from 'vitest';
import { SimNetwork } from '../../src/sim/network.js';
import { RenoFlow } from '../../src/sim/reno.js';

const SEED = Number(process.env.SIM_SEED ?? 20240611);

const RATE_BPS = 10e6;
const DELAY_US = 20_000;
const QUEUE_BYTES = 100_000;
const PACKET_BYTES = 1400;

/** The brief's bottleneck: 10 Mbit/s, 20 ms each way, a 100 KB drop-tail queue on the data direction. */
function bottleneck(seed: number): SimNetwork {
  const net = new SimNetwork({ seed });
  net.setLink('a', 'b', { delayUs: DELAY_US, bandwidthBps: RATE_BPS, queueBytes: QUEUE_BYTES });
  net.setLink('b', 'a', { delayUs: DELAY_US, bandwidthBps: RATE_BPS, queueBytes: QUEUE_BYTES });
  return net;
}

describe('RenoFlow', () => {
  it(`fills a 10 Mbit/s, 20 ms, 100 KB-queue bottleneck and halves on drop-tail loss (seed ${SEED})`, () => {
    const net = bottleneck(SEED);
    const flow = new RenoFlow({ net, from: 'a', to: 'b', packetBytes: PACKET_BYTES });
    // Congestion-avoidance samples after slow start has settled, taken between loss episodes.
    const cwnds: number[] = [];
    net.onIdle(() => {
      const s = flow.stats();
      if (net.now() > 10_000_000 && !s.inRecovery) cwnds.push(s.cwndPackets);
    });
    flow.start();
    const t0 = process.cpuUsage();
    const r = net.run({ maxTimeUs: 30_000_000 });
    const cpu = process.cpuUsage(t0);
    expect(r.reason).toBe('timeout');

    const fwd = net.linkStats('a', 'b');
    const rev = net.linkStats('b', 'a');
    const utilization = (fwd.bytesDelivered * 8) / (RATE_BPS * 30);
    const goodput = (flow.bytesDelivered * 8) / (RATE_BPS * 30);
    const s = flow.stats();
    const datagrams = fwd.sent + rev.sent;
    console.log(
      `reno: utilization ${(utilization * 100).toFixed(1)} %, goodput ${(goodput * 100).toFixed(1)} %, ` +
        `${s.halvings} halvings, ${s.timeouts} timeouts, ${fwd.droppedQueue} queue drops, ` +
        `cwnd ${Math.min(...cwnds).toFixed(1)}..${Math.max(...cwnds).toFixed(1)}, ` +
        `srtt ${(s.srttUs / 1000).toFixed(1)} ms; ${datagrams} datagrams in ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU ` +
        `= ${Math.round(datagrams / ((cpu.user + cpu.system) / 1e6)).toLocaleString('en')} datagrams per CPU-second`,
    );

    expect(utilization).toBeGreaterThanOrEqual(0.85);
    expect(utilization).toBeLessThanOrEqual(1);
    expect(goodput).toBeGreaterThanOrEqual(0.8);
    // It backs off: the queue overflows, and each overflow halves the window.
    expect(fwd.droppedQueue).toBeGreaterThan(0);
    expect(s.halvings).toBeGreaterThanOrEqual(3);
    expect(s.fastRetransmits).toBeGreaterThanOrEqual(s.halvings);
    const h = s.lastHalving;
    expect(h).not.toBeNull();
    expect(h?.ssthreshPackets).toBe(Math.max((h?.flightPackets ?? 0) / 2, 2));
    // The window can hold at most BDP + queue ≈ 50 kB + 100 kB ≈ 107 packets before a drop; after
    // halving it restarts near half of that, so the sawtooth spans about a factor of two.
    const hi = Math.max(...cwnds);
    const lo = Math.min(...cwnds);
    expect(hi).toBeGreaterThan(90);
    expect(hi).toBeLessThan(125);
    expect(hi / lo).toBeGreaterThan(1.7);
    expect(hi / lo).toBeLessThan(2.3);
    // Standing queue: RTT grows above the 40 ms propagation delay but stays under it + a full queue (80 ms).
    expect(s.srttUs).toBeGreaterThan(45_000);
    expect(s.srttUs).toBeLessThan(125_000);
  });

  it(`completes a finite transfer over a lossy, jittery path, byte for byte (seed ${SEED})`, () => {
    const net = new SimNetwork({ seed: SEED });
    net.setPath('a', 'b', { delayUs: 10_000, jitterUs: 2000, loss: 0.02, bandwidthBps: 20e6, queueBytes: 64_000 });
    const total = 2_000_001;
    const flow = new RenoFlow({ net, from: 'a', to: 'b', totalBytes: total, port: 6881 });
    expect(flow.receiverPort).toBe(6881);
    flow.start();
    const r = net.run({ until: () => flow.stats().done, maxTimeUs: 120_000_000 });
    const s = flow.stats();
    expect(r.reason).toBe('done');
    expect(s.bytesDelivered).toBe(total);
    expect(s.retransmits).toBeGreaterThan(0);
    expect(s.halvings).toBeGreaterThan(0);
    expect(s.completedAtUs).toBe(r.now);
    // With nothing left to send, the flow goes quiet: no timer keeps the simulation alive.
    expect(net.run({ maxTimeUs: 60_000_000 }).reason).toBe('quiet');
  });

  it(`falls back to cwnd 1 on a timeout and recovers after a blackout (seed ${SEED})`, () => {
    const net = new SimNetwork({ seed: SEED });
    const path = { delayUs: 10_000, bandwidthBps: 10e6, queueBytes: 200_000 };
    net.setPath('a', 'b', path);
    const flow = new RenoFlow({ net, from: 'a', to: 'b', totalBytes: 3_000_000 });
    flow.start();
    net.run({ maxTimeUs: 1_000_000 });
    const before = flow.stats();
    expect(before.done).toBe(false);
    expect(before.cwndPackets).toBeGreaterThan(10);

    net.setPath('a', 'b', { ...path, loss: 1 });
    const r1 = net.run({ until: () => flow.stats().timeouts > before.timeouts, maxTimeUs: 5_000_000 });
    expect(r1.reason).toBe('done');
    expect(flow.stats().cwndPackets).toBe(1);
    expect(flow.stats().ssthreshPackets).toBeGreaterThanOrEqual(2);
    net.run({ maxTimeUs: 2_000_000 });
    const during = flow.stats();
    expect(during.timeouts).toBeGreaterThan(before.timeouts + 1); // backed-off retries kept failing
    expect(during.rtoUs).toBeGreaterThan(before.rtoUs);

    net.setPath('a', 'b', path);
    const r2 = net.run({ until: () => flow.stats().done, maxTimeUs: 60_000_000 });
    expect(r2.reason).toBe('done');
    expect(flow.bytesDelivered).toBe(3_000_000);
  });

  it(`is deterministic for a seed (seed ${SEED})`, () => {
    const once = () => {
      const net = new SimNetwork({ seed: SEED });
      net.setPath('a', 'b', { delayUs: 15_000, jitterUs: 5000, loss: 0.01, bandwidthBps: 5e6, queueBytes: 50_000 });
      const flow = new RenoFlow({ net, from: 'a', to: 'b' });
      flow.start();
      net.run({ maxTimeUs: 5_000_000 });
      return { stats: flow.stats(), link: net.linkStats('a', 'b') };
    };
    const x = once();
    expect(x.stats.bytesDelivered).toBeGreaterThan(0);
    expect(once()).toEqual(x);
  });

  it(`stops cleanly: no more sends, sockets closed, simulation quiet (seed ${SEED})`, () => {
    const net = bottleneck(SEED);
    const flow = new RenoFlow({ net, from: 'a', to: 'b' });
    flow.start();
    net.run({ maxTimeUs: 500_000 });
    flow.stop();
    const sent = net.linkStats('a', 'b').sent;
    expect(net.run({ maxTimeUs: 10_000_000 }).reason).toBe('quiet');
    expect(net.linkStats('a', 'b').sent).toBe(sent);
    expect(net.timers.size).toBe(0);
  });
});
