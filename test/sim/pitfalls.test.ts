/**
 * Pitfalls other uTP implementations fell into, replayed in the simulator. Path MTU discovery over a
 * link that silently drops datagrams above 1200 bytes: the search must settle below the limit,
 * lost probes must not end the connection, and a lost probe is not a congestion signal.
 *
 * Re-run with another seed: SIM_SEED=<seed> npx vitest run test/sim/pitfalls.test.ts
 */
import { describe, expect, it } from 'vitest';
import type { Connection, ConnectionConfig } from '../../src/machines/connection.js';
import { type LinkOptions, SimNetwork } from '../../src/sim/network.js';
import { brief, createPeer, pump, Sink, sha256, simSeed, withSeed } from './helpers.js';

const FILE = 'test/sim/pitfalls.test.ts';
const SEC = 1_000_000;
const LINK_MTU = 1200;
/** libutp mtu_search_update: the search stops when ceiling − floor ≤ 16. */
const SEARCH_DONE_GAP = 16;
// A queue large enough that nothing but the MTU ever drops a datagram.
const PATH: LinkOptions = { delayUs: 20_000, bandwidthBps: 20e6, queueBytes: 4 << 20, mtu: LINK_MTU };
const CONFIG: ConnectionConfig = { mtuCeiling: 1472 };

interface Run {
  net: SimNetwork;
  client: Connection;
  server: Connection | undefined;
  ok: boolean;
  summary: string;
}

/** `bytes` each way at once over PATH, both sides closing when done. */
function exchange(seed: number, bytes: number, path: LinkOptions = PATH): Run {
  const net = new SimNetwork({ seed });
  net.setPath('a', 'b', path);
  const a = createPeer(net, 'a', 1000, { connection: CONFIG });
  const b = createPeer(net, 'b', 2000, { connection: CONFIG });
  const dataA = net.prng.bytes(bytes);
  const dataB = net.prng.bytes(bytes);
  const atA = new Sink();
  const atB = new Sink();
  let server: Connection | undefined;
  b.endpoint.onConnection = (conn) => {
    server = conn;
    conn.events = { onData: (d) => atB.add(d), onConnect: () => pump(conn, dataB, 65_536, true) };
  };
  const client = a.endpoint.connect(2000, 'b');
  client.events = { onData: (d) => atA.add(d) };
  pump(client, dataA, 65_536, true);
  const r = net.run({ until: () => client.closed && server?.closed === true, maxTimeUs: 300 * SEC });
  const ok =
    atB.bytes === bytes && atA.bytes === bytes && atB.digest() === sha256(dataA) && atA.digest() === sha256(dataB);
  const summary =
    `${r.reason} after ${((r.now - 1 * SEC) / SEC).toFixed(2)} s, payload intact: ${ok}\n` +
    `  a→b ${JSON.stringify(net.linkStats('a', 'b'))}\n` +
    `  client ${brief(client)} ledbat ${JSON.stringify(client.core.ledbat.stats())}\n` +
    `  server ${brief(server)} ledbat ${JSON.stringify(server?.core.ledbat.stats())}`;
  return { net, client, server, ok, summary };
}

describe('pitfalls: path MTU discovery over a link that drops datagrams above 1200 bytes', () => {
  const seed = simSeed(4001);
  it(`transfer completes, packet size settles ≤ 1200, lost probes kill nothing (seed ${seed})`, () => {
    withSeed(seed, FILE, () => {
      const { net, client, server, ok, summary } = exchange(seed, 2 << 20);
      console.log(`mtu: ${summary}`);
      expect(client.outcome, summary).toBe('closed');
      expect(server?.outcome, summary).toBe('closed');
      expect(ok, summary).toBe(true);
      for (const conn of [client, server!]) {
        const s = conn.core.stats();
        // The search converged: at most the link's MTU, within the search's stopping gap of it.
        expect(s.packetSize, summary).toBeLessThanOrEqual(LINK_MTU);
        expect(s.packetSize, summary).toBeGreaterThan(LINK_MTU - SEARCH_DONE_GAP);
        // Probes above the limit were sent and lost, and nothing else was.
        expect(s.mtuProbesLost, summary).toBeGreaterThan(0);
        expect(s.mtuProbesLost, summary).toBeLessThan(s.mtuProbes);
      }
      const ab = net.linkStats('a', 'b');
      const ba = net.linkStats('b', 'a');
      expect(ab.droppedMtu + ba.droppedMtu).toBe(
        client.core.stats().mtuProbesLost + server!.core.stats().mtuProbesLost,
      );
      expect(ab.droppedQueue + ba.droppedQueue + ab.lost + ba.lost).toBe(0);
    });
  });

  const seed2 = simSeed(4002);
  it(`a lone probe lost to the MTU costs one timeout but no RTO back-off and no window reset (seed ${seed2})`, () => {
    withSeed(seed2, FILE, () => {
      // With a 1000-byte link the very first data packet — sent alone, the window being one packet —
      // is a 1010-byte probe: it can only be detected lost by the retransmission timer.
      const net = new SimNetwork({ seed: seed2 });
      net.setPath('a', 'b', { ...PATH, mtu: 1000 });
      const a = createPeer(net, 'a', 1000, { connection: CONFIG });
      const b = createPeer(net, 'b', 2000, { connection: CONFIG });
      const sink = new Sink();
      b.endpoint.onConnection = (conn) => {
        conn.events = { onData: (d) => sink.add(d), onEnd: () => conn.end() };
      };
      const data = net.prng.bytes(200_000);
      const client = a.endpoint.connect(2000, 'b');
      pump(client, data, 65_536, true);
      let rtoBefore = 0;
      let firstTimeout: { at: number; rtoUs: number; ledbatTimeouts: number; cwnd: number } | undefined;
      net.onIdle(() => {
        const s = client.core.stats();
        if (s.timeouts === 0) rtoBefore = s.rtoUs;
        else if (firstTimeout === undefined) {
          const l = client.core.ledbat.stats();
          firstTimeout = { at: net.now(), rtoUs: s.rtoUs, ledbatTimeouts: l.timeouts, cwnd: s.cwnd };
        }
      });
      const r = net.run({ until: () => client.closed, maxTimeUs: 120 * SEC });
      const s = client.core.stats();
      const summary = `${r.reason}: ${brief(client)} rto before ${rtoBefore}, first timeout ${JSON.stringify(firstTimeout)}`;
      expect(client.outcome, summary).toBe('closed');
      expect(sink.digest()).toBe(sha256(data));
      expect(firstTimeout, summary).toBeDefined();
      // The timer fired for the probe, but it was read as "too big", not as congestion.
      expect(firstTimeout!.ledbatTimeouts, summary).toBe(0);
      expect(firstTimeout!.rtoUs, summary).toBe(rtoBefore);
      expect(s.timeouts, summary).toBe(1);
      expect(s.mtuProbesLost).toBeGreaterThan(0);
      expect(s.packetSize).toBeLessThanOrEqual(1000);
    });
  });

  const seed3 = simSeed(4003);
  // BUG (reported): a probe found lost through SACK or duplicate acks goes through the ordinary
  // loss path in ConnectionCore.handlePacket — ledbat.onLoss halves the window and ends slow start —
  // before checkProbe() recognises it as a probe. Only the RTO path (above) exempts probes.
  it(`a probe lost to the MTU and detected by SACK is not a congestion signal (seed ${seed3})`, () => {
    withSeed(seed3, FILE, () => {
      const { client, server, ok, summary } = exchange(seed3, 2 << 20);
      expect(ok, summary).toBe(true);
      // The only datagrams dropped were probes (asserted in the first test), so LEDBAT saw no loss.
      expect(client.core.ledbat.stats().losses, summary).toBe(0);
      expect(server?.core.ledbat.stats().losses, summary).toBe(0);
    });
  });

  const seed4 = simSeed(4004);
  // BUG (reported): the same lost probe is fast-retransmitted twice. Its first retransmission is
  // already on the wire when duplicate acks the peer sent *before* receiving it arrive. The guard in
  // SendBuffer.onAck (dupStreakOrder) should discount them, but the duplicate-ack streak is reset by
  // every data packet from the peer that repeats the same ack_nr (the peer is sending too), so a new
  // streak starts after the retransmission and three stale duplicates mark it lost again.
  it(`a lost probe is retransmitted once, not again on duplicate acks older than the retransmission (seed ${seed4})`, () => {
    withSeed(seed4, FILE, () => {
      const { client, server, ok, summary } = exchange(seed4, 2 << 20);
      expect(ok, summary).toBe(true);
      for (const conn of [client, server!]) {
        const s = conn.core.stats();
        expect(s.timeouts, summary).toBe(0);
        // Nothing but probes was lost, so each retransmission is one lost probe.
        expect(s.retransmits, summary).toBe(s.mtuProbesLost);
      }
    });
  });
});
