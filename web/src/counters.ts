/**
 * The counter sections for a run: a live run shows each connection's `stats()`, the links' own
 * counters and the Reno flow's; a replay shows what its trace holds (packet counts and the last
 * metrics sample of each side).
 */
import { LiveRun } from './live-run.js';
import type { TraceModel } from './model.js';
import type { Run } from './run.js';
import type { CounterSection } from './views/table.js';

const n = (v: number | undefined) => (v === undefined ? '–' : Math.round(v).toLocaleString('en-US'));
const ms = (us: number | undefined) => (us === undefined ? '–' : (us / 1000).toFixed(1));

export function counterSections(run: Run, model: TraceModel): CounterSection[] {
  return run instanceof LiveRun ? liveSections(run) : traceSections(model);
}

function liveSections(run: LiveRun): CounterSection[] {
  const a = run.a.stats();
  const b = run.b.stats();
  const row = (name: string, f: (s: NonNullable<typeof a>) => string): [string, string, string] => [
    name,
    a ? f(a) : '–',
    b ? f(b) : '–',
  ];
  const sections: CounterSection[] = [
    {
      title: 'application',
      columns: ['A', 'B'],
      rows: [
        ['bytes written', n(run.a.written), n(run.b.written)],
        ['bytes delivered', n(run.a.delivered), n(run.b.delivered)],
        ['bytes expected', n(run.a.expectBytes), n(run.b.expectBytes)],
        ['CRC-32 delivered', run.a.received.hex(), run.b.received.hex()],
        ['CRC-32 expected', run.a.expectCrc, run.b.expectCrc],
        ['outcome', run.a.conn?.outcome ?? '–', run.b.conn?.outcome ?? '–'],
      ],
    },
    {
      title: 'connection stats()',
      columns: ['A', 'B'],
      rows: [
        row('cwnd (bytes)', (s) => n(s.cwnd)),
        row('bytes in flight', (s) => n(s.bytesInFlight)),
        row('smoothed RTT (ms)', (s) => ms(s.srttUs)),
        row('RTO (ms)', (s) => ms(s.rtoUs)),
        row('base delay (ms)', (s) => ms(s.baseDelayUs)),
        row('queuing delay (ms)', (s) => ms(s.queuingDelayUs)),
        row('packet size', (s) => n(s.packetSize)),
        row('packets sent', (s) => n(s.packetsSent)),
        row('packets received', (s) => n(s.packetsReceived)),
        row('retransmits', (s) => n(s.retransmits)),
        row('fast retransmits', (s) => n(s.fastRetransmits)),
        row('timeouts (RTO)', (s) => n(s.timeouts)),
        row('tail-loss probes', (s) => n(s.tailProbes)),
        row('duplicates received', (s) => n(s.duplicates)),
        row('out of order', (s) => n(s.outOfOrder)),
        row('MTU probes (lost)', (s) => `${n(s.mtuProbes)} (${n(s.mtuProbesLost)})`),
      ],
    },
  ];
  const ab = run.linkStats('A');
  const ba = run.linkStats('B');
  sections.push({
    title: 'simulated links',
    columns: ['A → B', 'B → A'],
    rows: [
      ['datagrams sent', n(ab.sent), n(ba.sent)],
      ['delivered', n(ab.delivered), n(ba.delivered)],
      ['lost (random)', n(ab.lost), n(ba.lost)],
      ['dropped (queue full)', n(ab.droppedQueue), n(ba.droppedQueue)],
      ['duplicated', n(ab.duplicated), n(ba.duplicated)],
      ['reordered', n(ab.reordered), n(ba.reordered)],
      ['max queue wait (ms)', ms(ab.maxQueueDelayUs), ms(ba.maxQueueDelayUs)],
      ['mean queue wait (ms)', ms(ab.avgQueueDelayUs), ms(ba.avgQueueDelayUs)],
    ],
  });
  const reno = run.renoStats();
  if (reno !== undefined) {
    sections.push({
      title: 'Reno flow',
      columns: ['A → B'],
      rows: [
        ['bytes delivered', n(reno.bytesDelivered)],
        ['cwnd (packets)', n(reno.cwndPackets)],
        ['halvings', n(reno.halvings)],
        ['timeouts', n(reno.timeouts)],
        ['retransmits', n(reno.retransmits)],
      ],
    });
  }
  return sections;
}

function traceSections(model: TraceModel): CounterSection[] {
  const sides = model.sides.slice(0, 2);
  const last = sides.map((s) => s.metrics[s.metrics.length - 1]?.data);
  return [
    {
      title: 'from the trace',
      columns: sides.map((s) => model.label(s)),
      rows: [
        ['packets sent', ...sides.map((s) => n(s.packetsSent))],
        ['packets received', ...sides.map((s) => n(s.packetsReceived))],
        ['retransmissions', ...sides.map((s) => n(s.retransmits))],
        ['dropped by the network', ...sides.map((s) => n(s.drops))],
        ['state', ...sides.map((s) => s.state.split(',').join(' · ') || '–')],
      ],
    },
    {
      title: 'last metrics sample',
      columns: sides.map((s) => model.label(s)),
      rows: [
        ['bytes sent', ...last.map((m) => n(m?.bytesSent))],
        ['bytes received', ...last.map((m) => n(m?.bytesReceived))],
        ['cwnd (bytes)', ...last.map((m) => n(m?.cwnd))],
        ['smoothed RTT (ms)', ...last.map((m) => ms(m?.srttUs))],
        ['queuing delay (ms)', ...last.map((m) => ms(m?.queuingDelayUs))],
        ['packet size', ...last.map((m) => n(m?.packetSize))],
      ],
    },
  ];
}
