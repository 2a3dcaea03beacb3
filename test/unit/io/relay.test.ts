import dgram from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createRelay, type Relay, type RelayOptions } from '../../helpers/relay.js';

/** Plain dgram sockets, closed after each test. */
const sockets: dgram.Socket[] = [];
const relays: Relay[] = [];

afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.close()));
  await Promise.all(sockets.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

async function socket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

interface Seen {
  data: string;
  port: number;
}

/** A target that records what it receives and echoes each datagram back prefixed with 'echo:'. */
async function echoServer(): Promise<{ s: dgram.Socket; seen: Seen[] }> {
  const s = await socket();
  const seen: Seen[] = [];
  s.on('message', (msg, rinfo) => {
    seen.push({ data: msg.toString(), port: rinfo.port });
    s.send(Buffer.from(`echo:${msg.toString()}`), rinfo.port, rinfo.address);
  });
  return { s, seen };
}

async function relayTo(target: dgram.Socket, opts: Omit<RelayOptions, 'target'>): Promise<Relay> {
  const r = await createRelay({ target: { address: '127.0.0.1', port: target.address().port }, ...opts });
  relays.push(r);
  return r;
}

function collect(s: dgram.Socket): string[] {
  const got: string[] = [];
  s.on('message', (msg) => got.push(msg.toString()));
  return got;
}

/** Waits, event-loop turn by turn, until `cond` holds (bounded by the test timeout; no fixed sleeps). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise<void>((resolve) => setImmediate(resolve));
}

function send(s: dgram.Socket, relay: Relay, data: string): void {
  s.send(Buffer.from(data), relay.port, relay.address);
}

/** Sends n numbered datagrams and waits until the relay has handled them and the server got all forwarded. */
async function sendNumbered(
  client: dgram.Socket,
  relay: Relay,
  seen: Seen[],
  n: number,
  expectedAtServer: () => number,
): Promise<void> {
  for (let i = 0; i < n; i++) send(client, relay, String(i));
  await until(() => relay.stats.c2s.received === n && seen.length === expectedAtServer());
}

describe('createRelay', () => {
  it('forwards both ways, giving each client its own upstream source port', async () => {
    const { s: server, seen } = await echoServer();
    const relay = await relayTo(server, { seed: 1 });
    expect(relay.address).toBe('127.0.0.1');
    const a = await socket();
    const b = await socket();
    const atA = collect(a);
    const atB = collect(b);
    send(a, relay, 'a1');
    send(b, relay, 'b1');
    send(a, relay, 'a2');
    await until(() => atA.length === 2 && atB.length === 1);
    expect(atA).toEqual(['echo:a1', 'echo:a2']);
    expect(atB).toEqual(['echo:b1']);

    const portOf = (d: string) => seen.find((x) => x.data === d)?.port;
    expect(portOf('a1')).toBe(portOf('a2'));
    expect(portOf('a1')).not.toBe(portOf('b1'));
    for (const p of [portOf('a1'), portOf('b1')]) {
      expect([a.address().port, b.address().port, relay.port]).not.toContain(p);
    }
    expect(relay.stats.clients).toBe(2);
    expect(relay.stats.c2s).toMatchObject({ received: 3, forwarded: 3, lost: 0 });
    expect(relay.stats.s2c).toMatchObject({ received: 3, forwarded: 3 });
  });

  it('applies drop() with per-client, per-direction indices', async () => {
    const { s: server, seen } = await echoServer();
    const calls: string[] = [];
    const relay = await relayTo(server, {
      seed: 2,
      drop: (buf, dir, index, client) => {
        calls.push(`${dir}#${index}@${client}:${buf.toString()}`);
        return (dir === 'c2s' && (index === 1 || index === 3)) || (dir === 's2c' && index === 0);
      },
    });
    const c = await socket();
    const got = collect(c);
    await sendNumbered(c, relay, seen, 5, () => 3);
    await until(() => relay.stats.s2c.received === 3 && got.length === 2);
    expect(seen.map((x) => x.data)).toEqual(['0', '2', '4']);
    expect(got).toEqual(['echo:2', 'echo:4']);
    expect(calls.filter((x) => x.startsWith('c2s'))).toEqual([
      'c2s#0@0:0',
      'c2s#1@0:1',
      'c2s#2@0:2',
      'c2s#3@0:3',
      'c2s#4@0:4',
    ]);
    expect(relay.stats.c2s.dropped).toBe(2);
    expect(relay.stats.s2c.dropped).toBe(1);
  });

  it('loses a seeded, reproducible fraction of datagrams', async () => {
    const n = 400;
    const runs: string[][] = [];
    for (const seed of [7, 7, 8]) {
      const { s: server, seen } = await echoServer();
      const relay = await relayTo(server, { seed, loss: 0.25 });
      const c = await socket();
      await sendNumbered(c, relay, seen, n, () => relay.stats.c2s.forwarded);
      runs.push(seen.map((x) => x.data).sort((x, y) => Number(x) - Number(y)));
      expect(relay.stats.c2s.lost + relay.stats.c2s.forwarded, `seed ${seed}`).toBe(n);
      expect(relay.stats.c2s.lost / n, `seed ${seed}`).toBeGreaterThan(0.15);
      expect(relay.stats.c2s.lost / n, `seed ${seed}`).toBeLessThan(0.35);
    }
    expect(runs[0], 'same seed, same losses').toEqual(runs[1]);
    expect(runs[0], 'different seed, different losses').not.toEqual(runs[2]);
  });

  it('duplicates datagrams', async () => {
    const { s: server, seen } = await echoServer();
    const relay = await relayTo(server, { seed: 3, duplicate: 1 });
    const c = await socket();
    await sendNumbered(c, relay, seen, 3, () => 6);
    expect(seen.map((x) => x.data)).toEqual(['0', '0', '1', '1', '2', '2']);
    expect(relay.stats.c2s.duplicated).toBe(3);
  });

  it('reorders: a held datagram follows its successor', async () => {
    const { s: server, seen } = await echoServer();
    // A long hold so the successor, sent back to back, always arrives first.
    const relay = await relayTo(server, { seed: 4, reorder: 1, reorderDelayMs: 10_000 });
    const c = await socket();
    await sendNumbered(c, relay, seen, 4, () => 4);
    expect(seen.map((x) => x.data)).toEqual(['1', '0', '3', '2']);
    expect(relay.stats.c2s.reordered).toBe(2);
  });

  it('releases a held datagram after reorderDelayMs when nothing follows', async () => {
    const { s: server, seen } = await echoServer();
    const relay = await relayTo(server, { seed: 5, reorder: 1, reorderDelayMs: 1 });
    const c = await socket();
    await sendNumbered(c, relay, seen, 1, () => 1);
    expect(seen.map((x) => x.data)).toEqual(['0']);
  });

  it('set() changes impairments mid-stream', async () => {
    const { s: server, seen } = await echoServer();
    const relay = await relayTo(server, { seed: 6 });
    const c = await socket();
    await sendNumbered(c, relay, seen, 2, () => 2);
    relay.set({ loss: 1 });
    for (let i = 2; i < 5; i++) send(c, relay, String(i));
    await until(() => relay.stats.c2s.received === 5);
    relay.set({ loss: 0 });
    send(c, relay, 'last');
    await until(() => seen.length === 3);
    expect(seen.map((x) => x.data)).toEqual(['0', '1', 'last']);
    expect(relay.stats.c2s.lost).toBe(3);
  });
});
