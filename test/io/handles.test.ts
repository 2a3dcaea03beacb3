import { once } from 'node:events';
import { expect, it } from 'vitest';
import { connect, createServer, type Socket, UtpSocket } from '../../src/io/index.js';

/** Handles of the kinds utpx creates that keep the process alive (unref'd ones are not listed). */
function handles(): { udp: number; timeouts: number; immediates: number } {
  const all = process.getActiveResourcesInfo();
  return {
    udp: all.filter((r) => r === 'UDPWrap').length,
    timeouts: all.filter((r) => r === 'Timeout').length,
    immediates: all.filter((r) => r === 'Immediate').length,
  };
}

function closed(s: Socket | UtpSocket): Promise<void> {
  return new Promise((resolve) => {
    if (s instanceof UtpSocket || !s.closed) s.once('close', () => resolve());
    else resolve();
  });
}

it('after server.close() and every socket ended, no UDP handle or timer of ours is left', async () => {
  const before = handles();
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = server.address().port;
  const accepted = (async () => {
    for await (const s of server) {
      s.on('end', () => s.end());
      s.pipe(s);
    }
  })();
  // A one-off client with an idle timeout set, one from a shared socket, and one refused.
  const a = connect(port);
  a.setTimeout(10_000);
  a.end(Buffer.alloc(200_000, 1));
  a.resume();
  const shared = new UtpSocket();
  const b = shared.connect(port);
  b.end('b');
  b.resume();
  await Promise.all([closed(a), closed(b)]);
  const idle = new UtpSocket();
  idle.bind(0, '127.0.0.1');
  await once(idle, 'listening');
  const refused = connect(idle.address().port);
  await once(refused, 'error');
  await closed(refused);
  expect(handles().udp).toBeGreaterThan(before.udp);

  const allClosed = Promise.all([closed(server), closed(shared), closed(idle)]);
  server.close();
  shared.close();
  idle.close();
  await accepted;
  await allClosed;
  await new Promise((resolve) => setImmediate(resolve));
  const after = handles();
  expect(after.udp).toBe(before.udp);
  expect(after.timeouts).toBeLessThanOrEqual(before.timeouts);
  expect(after.immediates).toBeLessThanOrEqual(before.immediates);
});
