/**
 * What would it cost to put every DATA/STATE packet through the lifecycle actor? Measures, per
 * packet: (a) the plain core path (decode + ack + reorder + deliver) as utpx runs it, and (b) the
 * same plus one `actor.send` of a per-packet event that the chart handles without a transition —
 * the cheapest a chart-routed data path could be.
 *
 *   npx tsx bench/actor-cost.ts
 */
import { createActor, setup } from 'xstate';
import { ConnectionCore, type ConnectionHooks } from '../src/core/connection.js';
import { createLayout, encode, scanPacket } from '../src/wire/codec.js';
import { ST_DATA, ST_SYN } from '../src/wire/constants.js';

const N = 1_000_000;
const PAYLOAD = 1400;

function makeCore(): ConnectionCore {
  const hooks: ConnectionHooks = {
    transmit: () => {},
    deliver: () => {},
    writable: () => {},
    unreadBytes: () => 0,
    needFlush: () => {},
  };
  const core = new ConnectionCore('acceptor', hooks, { recvWindowBytes: 1 << 30 });
  const syn = encode({ type: ST_SYN, connectionId: 100, seqNr: 0, ackNr: 0, windowSize: 1 << 20 });
  core.acceptSyn(1, syn, 500);
  return core;
}

function packets(): Uint8Array[] {
  const out: Uint8Array[] = [];
  const payload = new Uint8Array(PAYLOAD);
  for (let i = 0; i < 4096; i++) {
    out.push(encode({ type: ST_DATA, connectionId: 101, seqNr: 1 + i, ackNr: 499, windowSize: 1 << 20, payload }));
  }
  return out;
}

// A chart shaped like ours: a parallel "connected" state with regions, where a DATA event has a
// targetless transition with one action (the least a chart-routed data path would do).
const machine = setup({
  types: { events: {} as { type: 'DATA'; n: number } | { type: 'FIN' } },
  actions: { onData: () => {} },
}).createMachine({
  initial: 'connected',
  states: {
    connected: {
      type: 'parallel',
      states: {
        send: { initial: 'open', states: { open: { on: { FIN: 'done' } }, done: {} } },
        receive: { initial: 'open', states: { open: { on: { DATA: { actions: 'onData' } } } } },
      },
    },
  },
});

function run(label: string, viaActor: boolean): number {
  const core = makeCore();
  const actor = createActor(machine).start();
  const layout = createLayout();
  const pk = packets();
  // Re-stamp seq numbers as we go so every packet is in order.
  let seq = 1;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const buf = pk[i & 4095] as Uint8Array;
    buf[16] = (seq >>> 8) & 0xff;
    buf[17] = seq & 0xff;
    seq = (seq + 1) & 0xffff;
    scanPacket(buf, layout);
    core.handlePacket(buf, layout, 1000 + i);
    if (viaActor) actor.send({ type: 'DATA', n: i });
    if ((i & 63) === 0) core.flush(1000 + i);
  }
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(`${label.padEnd(34)} ${ns.toFixed(0).padStart(6)} ns/packet`);
  return ns;
}

run('warm-up', false);
run('warm-up', true);
const plain = run('core only (utpx data path)', false);
const routed = run('core + actor.send per packet', true);
console.log(`actor routing adds ${(routed - plain).toFixed(0)} ns/packet (${(routed / plain).toFixed(2)}x)`);
