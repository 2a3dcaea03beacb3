/**
 * Path MTU discovery (DPLPMTUD, RFC 8899) against paths whose MTU changes: a black hole appearing
 * mid-transfer (the size in use stops passing), one present from the start below the base size,
 * and a path whose MTU rises (the size follows after the raise timer).
 */
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/machines/connection.js';
import { type LinkOptions, SimNetwork } from '../../src/sim/network.js';
import { createSimEndpoint } from '../../src/sim/utp.js';
import { brief, pump, Sink, sha256, simSeed, withSeed } from './helpers.js';

const FILE = 'test/sim/pmtu.test.ts';
const PATH: LinkOptions = { delayUs: 10_000, bandwidthBps: 50e6, queueBytes: 2 << 20 };
const CONFIG = { mtuCeiling: 1472 };

function setup(seed: number, path: LinkOptions) {
  const net = new SimNetwork({ seed });
  net.setPath('a', 'b', path);
  const a = createSimEndpoint(net, 'a', 1000, { connection: CONFIG });
  const b = createSimEndpoint(net, 'b', 2000, { connection: CONFIG });
  let server: Connection | undefined;
  b.endpoint.onConnection = (c) => {
    server = c;
  };
  const client = a.endpoint.connect(2000, 'b');
  return { net, client, server: () => server };
}

describe('a path MTU black hole appearing mid-transfer', () => {
  for (const sender of ['initiator', 'acceptor'] as const) {
    const seed = simSeed(sender === 'initiator' ? 8501 : 8502);
    it(`the ${sender} sends 8 MiB; the path stops carrying more than 1,200 bytes halfway: intact (seed ${seed})`, () => {
      withSeed(seed, FILE, () => {
        const t = setup(seed, PATH);
        const data = t.net.prng.bytes(8 << 20);
        const sink = new Sink();
        t.net.run({ until: () => t.server()?.connected === true });
        const server = t.server() as Connection;
        const [from, to] = sender === 'initiator' ? [t.client, server] : [server, t.client];
        to.events = { ...to.events, onData: (p) => sink.add(p), onEnd: () => to.end() };
        pump(from, data, 64 * 1024, true);
        // The search has found 1,4xx by the time half the data is through.
        t.net.run({ until: () => sink.bytes >= data.length / 2, maxTimeUs: 120_000_000 });
        const before = from.core.stats().packetSize;
        expect(before).toBeGreaterThan(1400);
        t.net.setPath('a', 'b', { ...PATH, mtu: 1200 });
        const r = t.net.run({ until: () => t.client.closed && server.closed, maxTimeUs: 600_000_000 });
        const s = from.core.stats();
        const summary = `${r.reason}: ${brief(from)} blackHoles=${s.mtuBlackHoles} repacketized=${s.repacketized}`;
        expect(from.outcome, summary).toBe('closed');
        expect(to.outcome, summary).toBe('closed');
        expect(sink.bytes, summary).toBe(data.length);
        expect(sink.digest(), summary).toBe(sha256(data));
        expect(s.mtuBlackHoles, summary).toBeGreaterThanOrEqual(1);
        expect(s.repacketized, summary).toBeGreaterThanOrEqual(1);
        expect(s.packetSize, summary).toBeLessThanOrEqual(1200);
      });
    });
  }
});

describe('a path that never carried the base size', () => {
  const seed = simSeed(8511);
  it(`MTU 1,000 from the start: the base (1,172) is a black hole too; the floor and a search get through (seed ${seed})`, () => {
    withSeed(seed, FILE, () => {
      const t = setup(seed, { ...PATH, mtu: 1000 });
      const data = t.net.prng.bytes(1 << 20);
      const sink = new Sink();
      t.net.run({ until: () => t.server() !== undefined });
      const server = t.server() as Connection;
      server.events = { onData: (p) => sink.add(p), onEnd: () => server.end() };
      pump(t.client, data, 64 * 1024, true);
      const r = t.net.run({ until: () => t.client.closed && server.closed, maxTimeUs: 600_000_000 });
      const s = t.client.core.stats();
      const summary = `${r.reason}: ${brief(t.client)}`;
      expect(t.client.outcome, summary).toBe('closed');
      expect(sink.digest(), summary).toBe(sha256(data));
      expect(s.packetSize, summary).toBeLessThanOrEqual(1000);
      expect(s.packetSize, summary).toBeGreaterThan(900); // searched up from the floor again
    });
  });
});

describe('a path whose MTU rises', () => {
  const seed = simSeed(8521);
  it(`1,200 then 1,472: the size follows after the raise timer (600 s) (seed ${seed})`, () => {
    withSeed(seed, FILE, () => {
      const t = setup(seed, { ...PATH, mtu: 1200, bandwidthBps: 2e6 });
      t.net.run({ until: () => t.server() !== undefined });
      const server = t.server() as Connection;
      // A slow, endless trickle: the connection stays busy for the whole virtual quarter hour.
      let written = 0;
      const chunk = new Uint8Array(64 * 1024);
      const go = () => {
        while (written < 400 << 20 && t.client.write(chunk)) written += chunk.length;
      };
      t.client.events = { onDrain: go };
      go();
      t.net.run({ maxTimeUs: 120_000_000 });
      const settled = t.client.core.stats().packetSize;
      expect(settled).toBeLessThanOrEqual(1200);
      expect(settled).toBeGreaterThan(1180);
      t.net.setPath('a', 'b', { ...PATH, mtu: 1500, bandwidthBps: 2e6 });
      t.net.run({ maxTimeUs: 300_000_000 });
      expect(t.client.core.stats().packetSize).toBe(settled); // not before the raise timer
      t.net.run({ maxTimeUs: 400_000_000 });
      expect(t.client.core.stats().packetSize, brief(t.client)).toBeGreaterThan(1450);
      expect(server.closed).toBe(false);
    });
  });
});
