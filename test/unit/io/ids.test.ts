/**
 * Connection ids and initial seq_nrs come from the platform's CSPRNG, not Math.random: V8's
 * xorshift128+ state can be recovered from a few outputs, and an off-path attacker who opened one
 * connection could then predict the ids and seq_nrs of the next ones.
 */
import { once } from 'node:events';
import { afterEach, expect, it, vi } from 'vitest';
import { createServer, utp } from '../../../src/io/index.js';
import { closed } from '../../helpers/streams.js';

afterEach(() => {
  vi.restoreAllMocks();
});

it('a loopback connect and accept draw ids and seq_nrs from crypto.getRandomValues, never Math.random', async () => {
  const server = createServer((s) => {
    s.resume();
    s.on('end', () => s.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const mathRandom = vi.spyOn(Math, 'random');
  const cryptoRandom = vi.spyOn(globalThis.crypto, 'getRandomValues');
  const client = utp().connect(server.address().port, '127.0.0.1');
  await once(client, 'connect');
  // Initiator: receive id and initial seq_nr; acceptor: initial seq_nr (all before the connect).
  expect(cryptoRandom.mock.calls.length).toBeGreaterThanOrEqual(3);
  expect(mathRandom).not.toHaveBeenCalled();
  client.resume();
  client.end('x');
  await closed(client);
  server.close();
  await once(server, 'close');
});
