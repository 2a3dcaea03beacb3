/**
 * A full half-open backlog drops SYNs (as a full TCP accept queue does) instead of refusing them:
 * the initiators' SYN retries get in once the backlog has room. A port that is not listening still
 * refuses at once (RST).
 */
import { expect, it } from 'vitest';
import type { Connection } from '../../../src/machines/connection.js';
import { SimNetwork } from '../../../src/sim/network.js';
import { createSimEndpoint } from '../../../src/sim/utp.js';

const SEED = 7;
const SEC = 1_000_000;

it('SYNs past maxHalfOpen are dropped and counted; their retries are accepted', () => {
  const net = new SimNetwork({ seed: SEED });
  net.setPath('client', 'server', { delayUs: 5_000 });
  const server = createSimEndpoint(net, 'server', 1000, { maxHalfOpen: 2 });
  const client = createSimEndpoint(net, 'client', 2000);
  const accepted: Connection[] = [];
  server.endpoint.onConnection = (c) => {
    accepted.push(c);
    c.events = { onData: () => {}, onEnd: () => c.end() };
  };
  // Five at once: the first two fill the backlog before any initiator is heard from again.
  const t0 = net.now();
  const conns = Array.from({ length: 5 }, () => client.endpoint.connect(1000, 'server'));
  for (const c of conns) c.events = { onConnect: () => c.end() };
  net.run({ until: () => accepted.length === 2, maxTimeUs: SEC / 2 });
  expect(server.endpoint.stats.synsDropped, `seed ${SEED}`).toBe(3);
  expect(server.endpoint.stats.synsRejected).toBe(0);
  expect(server.endpoint.stats.resetsSent).toBe(0);
  expect(conns.filter((c) => c.closed)).toEqual([]);
  net.run({ until: () => conns.every((c) => c.closed), maxTimeUs: 30 * SEC });
  expect(conns.map((c) => c.outcome)).toEqual(['closed', 'closed', 'closed', 'closed', 'closed']);
  expect(accepted).toHaveLength(5);
  // The retries came after the first SYN retransmission timeout (1 s).
  expect(net.now() - t0).toBeGreaterThanOrEqual(SEC);
  client.close();
  server.close();
});

it('a port that does not listen still refuses at once with a RST', () => {
  const net = new SimNetwork({ seed: SEED });
  net.setPath('client', 'server', { delayUs: 5_000 });
  const server = createSimEndpoint(net, 'server', 1000, { maxHalfOpen: 2 });
  const client = createSimEndpoint(net, 'client', 2000);
  const t0 = net.now();
  const c = client.endpoint.connect(1000, 'server');
  net.run({ until: () => c.closed, maxTimeUs: 5 * SEC });
  expect(c.outcome).toBe('refused');
  expect(server.endpoint.stats.synsRejected).toBe(1);
  expect(server.endpoint.stats.synsDropped).toBe(0);
  expect(net.now() - t0).toBeLessThan(SEC / 10);
  client.close();
  server.close();
});
