/**
 * One UDP port that listens and connects — the shape of NAT hole punching. Each peer is a
 * `utp()` socket bound to one port: it accepts uTP connections on it, connects out from it, and
 * sends and receives plain (non-uTP) datagrams on it too, such as a rendezvous protocol's messages.
 *
 *   npx tsx examples/one-port.ts
 *
 * Behind NATs, each peer would first send a datagram to the other's public address (opening its own
 * NAT's mapping), then connect from the same port. Here both are on loopback.
 */
import { once } from 'node:events';
import { type Socket, utp } from 'utpx';

const alice = utp();
const bob = utp();
for (const [name, peer] of [
  ['alice', alice],
  ['bob', bob],
] as const) {
  peer.on('connection', (socket: Socket) => {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      console.log(`${name} accepted a connection and got: ${text}`);
      socket.end();
    });
  });
  // Datagrams that are not uTP packets come out as 'message', as on a dgram socket.
  peer.on('message', (buf: Buffer) => console.log(`${name} got a plain datagram: ${buf.toString()}`));
  peer.listen(0, '127.0.0.1');
}
await Promise.all([once(alice, 'listening'), once(bob, 'listening')]);
const a = alice.address().port;
const b = bob.address().port;
console.log(`alice listens on ${a}, bob on ${b}`);

// The "punch": a plain datagram each way, from the same ports the connections will use.
alice.send(Buffer.from('punch from alice'), 0, 16, b, '127.0.0.1');
bob.send(Buffer.from('punch from bob'), 0, 14, a, '127.0.0.1');
await new Promise((resolve) => setTimeout(resolve, 50));

// Both connect to each other at once, each from its listening port.
const fromAlice = alice.connect(b, '127.0.0.1');
const fromBob = bob.connect(a, '127.0.0.1');
await Promise.all([once(fromAlice, 'connect'), once(fromBob, 'connect')]);
console.log(`alice connected out from port ${fromAlice.localPort}, bob from port ${fromBob.localPort}`);
fromAlice.end('hi bob, from alice');
fromBob.end('hi alice, from bob');
fromAlice.resume();
fromBob.resume();
await Promise.all([once(fromAlice, 'close'), once(fromBob, 'close')]);
alice.close();
bob.close();
console.log('done');
