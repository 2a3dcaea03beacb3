/**
 * Both ends' protocol cores alone, in memory: an initiator sends `MiB` (default 256) to an acceptor,
 * every datagram handed straight to the other core, 20 µs of virtual time per hop (a loopback-like
 * RTT: the pacer stays off). Prints the CPU time (user + system) per data packet, both ends together:
 * the send path (packetize, stamp, the pacer's per-packet check), the receive path and the acks.
 *
 *   npx tsx bench/core-send.ts [MiB]
 */
import { ConnectionCore, type ConnectionHooks } from '../src/core/connection.js';
import { createLayout, scanPacket } from '../src/wire/codec.js';

function core(role: 'initiator' | 'acceptor', out: Uint8Array[]): ConnectionCore {
  const hooks: ConnectionHooks = {
    transmit: (buf, length) => {
      out.push(buf.slice(0, length));
    },
    deliver: () => {},
    writable: () => {},
    unreadBytes: () => 0,
    needFlush: () => {},
  };
  return new ConnectionCore(role, hooks, { packetSize: 1472, mtuFloor: 1472, mtuCeiling: 1472 });
}

const layout = createLayout();
function pass(from: Uint8Array[], to: ConnectionCore, now: number): number {
  const bufs = from.splice(0);
  for (const b of bufs) {
    scanPacket(b, layout);
    to.handlePacket(b, layout, now);
  }
  return bufs.length;
}

const outA: Uint8Array[] = [];
const outB: Uint8Array[] = [];
const a = core('initiator', outA);
const b = core('acceptor', outB);
let now = 1_000_000;
a.assignIds(400);
a.sendSyn(now, 100);
b.acceptSyn((now += 20), outA.shift() as Uint8Array, 7000);
pass(outB, a, (now += 20));
a.flush(now);
pass(outA, b, (now += 20));

const chunk = new Uint8Array(1 << 20);
const total = Number(process.argv[2] ?? 256) * (1 << 20);
let written = 0;
let packets = 0;
const c0 = process.cpuUsage();
for (;;) {
  while (written < total) {
    written += chunk.length;
    if (!a.write(chunk)) break;
  }
  a.flush(now);
  packets += pass(outA, b, (now += 20));
  b.flush(now);
  pass(outB, a, (now += 20));
  if (written >= total && a.allAcked) break;
}
const cpu = process.cpuUsage(c0);
console.log(
  `${(((cpu.user + cpu.system) * 1000) / packets).toFixed(0)} ns/packet CPU, both ends (${packets} datagrams from the sender)`,
);
