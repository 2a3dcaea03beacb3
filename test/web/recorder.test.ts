/**
 * The playground's engine without a browser: the live run it records, the trace it exports and the
 * replay of that trace, and the chart outline it draws from the machine. (The page itself is tested
 * in Chromium by playground.test.ts, under `npm run test:web`.)
 */
import { describe, expect, it } from 'vitest';
import { connectionMachine } from '../../src/machines/connection.machine.js';
import { parseTrace, type TraceEvent } from '../../src/trace/format.js';
import { activePaths, allPaths, chartOutline } from '../../web/src/chart-outline.js';
import { crc32 } from '../../web/src/crc32.js';
import { LiveRun } from '../../web/src/live-run.js';
import { peerOf, TraceModel } from '../../web/src/model.js';
import { ReplayRun } from '../../web/src/replay-run.js';
import { DEFAULT_SCENARIO, type Scenario } from '../../web/src/scenario.js';
import { traceText } from '../../web/src/trace-io.js';

function finished(s: Partial<Scenario> = {}): LiveRun {
  const run = new LiveRun({ ...DEFAULT_SCENARIO, ...s });
  run.runToEnd();
  return run;
}

const count = (events: readonly TraceEvent[], f: (e: TraceEvent) => boolean) => events.filter(f).length;

describe('playground live run', () => {
  it('the default scenario delivers every byte intact and closes both sides, through a loss, SACK and FIN', () => {
    const run = finished();
    expect(run.done).toBe(true);
    expect(run.b.delivered).toBe(DEFAULT_SCENARIO.bytesAtoB);
    expect(run.b.complete).toBe(true);
    expect([run.a.conn?.outcome, run.b.conn?.outcome]).toEqual(['closed', 'closed']);
    const ev = run.events;
    expect(count(ev, (e) => e.name === 'packet_dropped' && e.data.type === 'DATA')).toBeGreaterThan(0);
    expect(count(ev, (e) => e.name === 'packet_sent' && e.data.retransmit === true)).toBeGreaterThan(0);
    expect(count(ev, (e) => e.name === 'packet_received' && (e.data.sack?.length ?? 0) > 0)).toBeGreaterThan(0);
    expect(count(ev, (e) => e.name === 'packet_sent' && e.data.type === 'FIN')).toBe(2);
    expect(run.a.stats()?.fastRetransmits).toBeGreaterThan(0);
    // Simulated time, not wall time: a few seconds.
    expect(run.now).toBeGreaterThan(1_000_000);
    expect(run.now).toBeLessThan(10_000_000);
  });

  it('records one packet_dropped per datagram the links dropped, and one packet_sent per packet stats() counts', () => {
    const run = finished();
    const dropped = count(run.events, (e) => e.name === 'packet_dropped');
    const ab = run.linkStats('A');
    const ba = run.linkStats('B');
    expect(dropped).toBe(ab.lost + ab.droppedQueue + ab.droppedMtu + ba.lost + ba.droppedQueue + ba.droppedMtu);
    for (const side of [run.a, run.b]) {
      const key = side.connKey as string;
      const sent = count(run.events, (e) => e.name === 'packet_sent' && peerOf(e.conn) === peerOf(key));
      expect(sent).toBe(side.stats()?.packetsSent);
    }
  });

  it('is deterministic, and advancing in animation-frame slices records what one run to the end records', () => {
    const once = traceText(finished());
    expect(traceText(finished())).toBe(once);
    const sliced = new LiveRun({ ...DEFAULT_SCENARIO });
    while (!sliced.done) sliced.advance(16_667);
    expect(traceText(sliced)).toBe(once);
  });

  it('step stops at the next instant with a packet event', () => {
    const run = new LiveRun({ ...DEFAULT_SCENARIO });
    const before = run.events.length;
    run.step();
    // The SYN reaches B after one 20 ms delay and B answers at once.
    expect(run.now).toBeGreaterThanOrEqual(20_000);
    expect(run.now).toBeLessThan(21_000);
    expect(run.events.slice(before).some((e) => e.name === 'packet_sent')).toBe(true);
  });

  it('finishes with a competing Reno flow, and both directions sending', () => {
    const reno = finished({ reno: true });
    expect(reno.b.complete).toBe(true);
    expect(reno.renoStats()?.bytesDelivered).toBeGreaterThan(0);
    const both = finished({ bytesBtoA: 200_000 });
    expect(both.a.complete && both.b.complete).toBe(true);
    expect(both.a.delivered).toBe(200_000);
  });

  it('ends a run whose path loses everything (A times out, B never hears of it)', () => {
    const run = finished({ lossPct: 100 });
    expect(run.done).toBe(true);
    expect(run.a.conn?.outcome).toBe('timedOut');
    expect(run.b.conn).toBeUndefined();
  });
});

describe('playground trace export and replay', () => {
  it('exports a trace parseTrace reads, whose replay builds the same model as the live run', () => {
    const run = finished();
    const text = traceText(run);
    const trace = parseTrace(text);
    expect(trace.header.vantagePoint).toBe('sim');
    expect(trace.events).toEqual(run.events);

    const live = new TraceModel();
    live.update(run.events);
    const replay = new ReplayRun(trace);
    const model = new TraceModel();
    while (!replay.done) {
      replay.advance(50_000);
      model.update(replay.events);
    }
    expect(replay.now).toBe(run.now);
    expect(model.sides.map((s) => [s.state, s.dataSent.length, s.acks.length, s.metrics.length])).toEqual(
      live.sides.map((s) => [s.state, s.dataSent.length, s.acks.length, s.metrics.length]),
    );
    expect(model.sides.map((s) => s.state)).toEqual(['closed', 'closed']);
    expect(model.flights.length).toBe(live.flights.length);
  });

  it('pairs every sent datagram with its arrival or its drop', () => {
    const run = finished({ duplicatePct: 5, reorderPct: 5, jitterMs: 5 });
    const m = new TraceModel();
    m.update(run.events);
    const sent = m.flights.filter((f) => f.sent !== undefined && !f.duplicate);
    // Only a datagram that could not arrive before its receiver closed may lack an arrival:
    // longest path = 20 ms delay + 5 ms jitter + 40 ms reorder hold-back.
    const firstClose = Math.min(...m.sides.map((s) => s.states[s.states.length - 1]?.time ?? 0));
    const unmatched = sent.filter((f) => f.received === undefined && f.lost === undefined);
    expect(unmatched.filter((f) => (f.sent as number) < firstClose - 65_000)).toEqual([]);
    expect(unmatched.length).toBeLessThan(5);
    expect(m.flights.some((f) => f.duplicate)).toBe(true);
    const [a] = m.sides;
    // Time–sequence points: one per DATA packet A sent; the seq scale starts at 1.
    expect(a?.dataSent.length).toBe(
      count(run.events, (e) => e.name === 'packet_sent' && e.data.type === 'DATA' && peerOf(e.conn) === a?.peer),
    );
    expect(Math.min(...(a?.dataSent.map((p) => p.seq) ?? []))).toBe(1);
  });

  it('replay step releases up to the next packet event', () => {
    const trace = parseTrace(traceText(finished()));
    const replay = new ReplayRun(trace);
    const n = replay.events.length;
    replay.step();
    expect(replay.events.length).toBeGreaterThan(n);
    const lastReleased = replay.events[replay.events.length - 1] as TraceEvent;
    expect(lastReleased.time).toBe(replay.now);
  });
});

describe('playground chart outline', () => {
  it('has every state node of connectionMachine, with its kind', () => {
    const outline = chartOutline();
    const ids = [...(connectionMachine as unknown as { idMap: Map<string, unknown> }).idMap.keys()]
      .map((id) => id.replace(/^utp\.?/, ''))
      .filter((p) => p !== '');
    expect(allPaths(outline).sort()).toEqual(ids.sort());
    const finals = outline.children.filter((c) => c.kind === 'final').map((c) => c.key);
    expect(finals).toEqual(['closed', 'reset', 'timedOut', 'refused', 'destroyed']);
    expect(outline.children.find((c) => c.key === 'connected')?.kind).toBe('parallel');
  });

  it('lights each leaf of a trace state string and its ancestors', () => {
    expect([...activePaths('connected.send.open,connected.receive.ended')].sort()).toEqual([
      'connected',
      'connected.receive',
      'connected.receive.ended',
      'connected.send',
      'connected.send.open',
    ]);
    expect([...activePaths('closed')]).toEqual(['closed']);
  });

  it('crc32 is zlib’s', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe('cbf43926');
  });
});
