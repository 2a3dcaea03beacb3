/**
 * An echo server and a client, over uTP on loopback.
 *
 *   npx tsx examples/echo-server.ts
 *
 * The server sends every byte back; the client writes two lines, ends its side, and prints what
 * comes back. uTP sockets are `stream.Duplex`es, like `net.Socket`: pipe, write, end, 'data', 'end'.
 */
import { connect, createServer } from 'utpx';

const server = createServer((socket) => {
  // Echo: everything the client sends goes straight back; the client's end() ends ours too.
  socket.pipe(socket);
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  console.log(`echo server on 127.0.0.1:${port}`);

  const client = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  client.on('data', (chunk: Buffer) => chunks.push(chunk));
  client.on('end', () => {
    process.stdout.write(`echoed back: ${Buffer.concat(chunks).toString()}`);
    server.close();
  });
  client.write('hello over uTP\n');
  client.end('goodbye\n');
});

server.on('close', () => console.log('server closed'));
