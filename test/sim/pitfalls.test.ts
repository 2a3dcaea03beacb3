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
import { ST_DATA } from '../../src/wire/constants.js';
import { brief, createPeer, packetType, pump, Sink, sha256, simSeed, withSeed } from './helpers.js';

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
  it(`a lone probe lost to the MTU costs a tail probe, no timeout, no back-off, no window reset (seed ${seed2})`, () => {
    withSeed(seed2, FILE, () => {
      // With a 1000-byte link the first data packet after the handshake's RTT sample — sent alone, the
      // window being one packet — is a probe bigger than the link: no later packet can report its loss
      // with duplicate acks. The tail-loss probe (2·SRTT) resends it unpadded long before the RTO.
      // The link is below DPLPMTUD's base (1,172): start from the floor, as on such a path after
      // its black hole was found, so that the only losses are probes.
      const net = new SimNetwork({ seed: seed2 });
      net.setPath('a', 'b', { ...PATH, mtu: 1000 });
      const a = createPeer(net, 'a', 1000, { connection: { ...CONFIG, packetSize: 548 } });
      const b = createPeer(net, 'b', 2000, { connection: { ...CONFIG, packetSize: 548 } });
      const sink = new Sink();
      b.endpoint.onConnection = (conn) => {
        conn.events = { onData: (d) => sink.add(d), onEnd: () => conn.end() };
      };
      const data = net.prng.bytes(200_000);
      const client = a.endpoint.connect(2000, 'b');
      pump(client, data, 65_536, true);
      const r = net.run({ until: () => client.closed, maxTimeUs: 120 * SEC });
      const s = client.core.stats();
      const l = client.core.ledbat.stats();
      const summary = `${r.reason}: ${brief(client)}`;
      expect(client.outcome, summary).toBe('closed');
      expect(sink.digest()).toBe(sha256(data));
      expect(s.tailProbes, summary).toBeGreaterThan(0);
      // Lost probes were read as "too big", never as congestion: no timeout, no back-off.
      expect(s.timeouts, summary).toBe(0);
      expect(l.timeouts, summary).toBe(0);
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
  // InFlightPackets.onAck (dupStreakOrder) should discount them, but the duplicate-ack streak is reset by
  // every data packet from the peer that repeats the same ack_nr (the peer is sending too), so a new
  // streak starts after the retransmission and three stale duplicates mark it lost again.
  it(`a lost probe is retransmitted once, not again on duplicate acks older than the retransmission (seed ${seed4})`, () => {
    withSeed(seed4, FILE, () => {
      const { client, server, ok, summary } = exchange(seed4, 2 << 20);
      expect(ok, summary).toBe(true);
      for (const conn of [client, server!]) {
        const s = conn.core.stats();
        expect(s.timeouts, summary).toBe(0);
        // Nothing but probes was lost, so each resend (by fast retransmit or the tail-loss probe)
        // is one lost probe.
        expect(s.retransmits + s.tailProbes, summary).toBe(s.mtuProbesLost);
      }
    });
  });
});

describe('pitfalls: tail loss', () => {
  const seed = simSeed(4010);
  it(`the last packets of a transfer lost: a tail probe recovers within RTTs, not after a 1 s RTO (seed ${seed})`, () => {
    withSeed(seed, FILE, () => {
      const net = new SimNetwork({ seed });
      net.setPath('a', 'b', { delayUs: 10_000 });
      const size = 1400;
      const config = { mtuFloor: size, mtuCeiling: size };
      const data = net.prng.bytes(100 * (size - 20));
      const seen = new Set<number>();
      let lastSeqs: Set<number> | undefined;
      const a = createPeer(net, 'a', 1000, {
        connection: config,
        // Drop the first transmission of the last three DATA packets of the transfer.
        drop: (buf) => {
          if (packetType(buf) !== ST_DATA || lastSeqs === undefined) return false;
          const seq = ((buf[16] as number) << 8) | (buf[17] as number);
          if (!lastSeqs.has(seq) || seen.has(seq)) return false;
          seen.add(seq);
          return true;
        },
      });
      const b = createPeer(net, 'b', 2000, { connection: config });
      const sink = new Sink();
      b.endpoint.onConnection = (conn) => {
        conn.events = { onData: (d) => sink.add(d) };
      };
      const client = a.endpoint.connect(2000, 'b');
      net.run({ until: () => client.connected });
      const first = client.core.nextSeqNr;
      lastSeqs = new Set([97, 98, 99].map((k) => (first + k) & 0xffff));
      const start = net.now();
      client.write(data);
      net.run({ until: () => sink.bytes === data.length, maxTimeUs: 10 * SEC });
      const s = client.core.stats();
      const summary = `${brief(client)} after ${(net.now() - start) / 1000} ms`;
      expect(seen.size, summary).toBe(3);
      expect(sink.digest()).toBe(sha256(data));
      expect(s.tailProbes, summary).toBeGreaterThan(0);
      expect(s.timeouts, summary).toBe(0);
      expect(net.now() - start, summary).toBeLessThan(500_000);
    });
  });
});
