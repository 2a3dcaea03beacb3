/**
 * A listener as an async iterator: `for await (const socket of server)` yields each incoming
 * connection, and ends when the server closes.
 *
 *   npx tsx examples/async-iterator.ts
 *
 * Three clients connect one after another; the server greets each by number, then stops
 * accepting after the third.
 */
import { once } from 'node:events';
import { connect, createServer } from 'utpx';

const CLIENTS = 3;
const server = createServer();
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const { port } = server.address();

// The server side: one loop, one connection at a time.
const serving = (async () => {
  let n = 0;
  for await (const socket of server) {
    n++;
    socket.end(`hello, client ${n}\n`);
    socket.resume(); // read (and drop) what the client sends, so its end arrives
    if (n === CLIENTS) server.close(); // stop accepting; the loop ends once the server has closed
  }
  console.log(`server: served ${n} connections`);
})();

for (let i = 1; i <= CLIENTS; i++) {
  const socket = connect(port, '127.0.0.1');
  socket.end();
  let text = '';
  for await (const chunk of socket) text += chunk;
  process.stdout.write(`client ${i} got: ${text}`);
}
await serving;
