/**
 * The CLI's pure parts in-process: argument parsing, the display's formatting, the ack tracker,
 * the trace re-keying and the plot model, on hand-made inputs where the right answer is known.
 */
import { describe, expect, it, vi } from 'vitest';
import { packetSizeOptions, parseCommand, UsageError } from '../../src/cli/args.js';
import { describeError } from '../../src/cli/errors.js';
import { formatLive, formatSummary, Progress } from '../../src/cli/progress.js';
import { resolveConfig } from '../../src/io/config.js';
import { ConnectionError } from '../../src/io/errors.js';
import type { ConnectionTraceRecord, PacketTraceRecord } from '../../src/machines/connection.js';
import { parseTrace, type Trace, type TraceEvent, traceHeader } from '../../src/trace/format.js';
import { buildPlotModel, decimateLine, niceTicks, PlotError, renderSvg } from '../../src/trace/plot.js';
import { TraceEventStream } from '../../src/trace/records.js';

describe('parseCommand', () => {
  it('reads listen, send and plot with their defaults', () => {
    expect(parseCommand(['listen'])).toEqual({
      kind: 'listen',
      port: 0,
      host: '0.0.0.0',
      keepOpen: false,
      quiet: false,
    });
    expect(parseCommand(['listen', '-p', '9000', '-k', '-o', 'out', '--max-packet-size', '1472', '-q'])).toEqual({
      kind: 'listen',
      port: 9000,
      host: '0.0.0.0',
      output: 'out',
      keepOpen: true,
      quiet: true,
      maxPacketSize: 1472,
    });
    expect(parseCommand(['send', 'example.org', '6881', 'f.bin', '--trace', 't.jsonl', '--inspect'])).toEqual({
      kind: 'send',
      host: 'example.org',
      port: 6881,
      file: 'f.bin',
      trace: 't.jsonl',
      inspect: { port: 8080 },
      quiet: false,
    });
    expect(parseCommand(['send', '::1', '1', '-'])).toMatchObject({ host: '::1', port: 1, file: '-' });
    expect(parseCommand(['plot', 't.jsonl', '--out', '-'])).toEqual({ kind: 'plot', trace: 't.jsonl', out: '-' });
    expect(parseCommand(['--help'])).toEqual({ kind: 'help' });
    expect(parseCommand(['send', '--version'])).toEqual({ kind: 'version' });
  });

  it.each([
    [[], /no command/],
    [['listen', 'extra'], /no arguments/],
    [['send', 'h', '0'], /PORT must be/],
    [['send', 'h', '1.5'], /PORT must be/],
    [['send', 'h', '1', 'a', 'b'], /HOST PORT/],
    [['listen', '--max-packet-size', '65508'], /--max-packet-size/],
    [['listen', '--inspect-port', '0'], /--inspect-port/],
    [['plot', 'a', 'b'], /one TRACE/],
    [['plot', 't', '--quiet'], /plot does not take --quiet/],
    [['send', 'h', '1', '-k'], /send does not take --keep-open/],
    [['listen', '--port'], /argument missing/],
  ])('%j is a usage error', (args, message) => {
    expect(() => parseCommand(args)).toThrow(UsageError);
    expect(() => parseCommand(args)).toThrow(message);
  });

  it('maps --max-packet-size to the MTU ceiling, for loopback too, in one place', () => {
    expect(packetSizeOptions(undefined)).toEqual({});
    expect(packetSizeOptions(1472)).toEqual({ maxPacketSize: 1472 });
    // What the library makes of it: the ceiling for every peer, loopback too; the floor follows.
    const loopback = resolveConfig(packetSizeOptions(300));
    expect(loopback.connection).toMatchObject({ mtuCeiling: 300, mtuFloor: 300 });
    // Per peer only DPLPMTUD's base, which cannot exceed the ceiling.
    expect(loopback.connectionFor('127.0.0.1')).toEqual({ packetSize: 300 });
    expect(resolveConfig(packetSizeOptions(1472)).connectionFor('::1')).toEqual({ packetSize: 1232 });
    expect(resolveConfig(packetSizeOptions(1472)).connection).toMatchObject({ mtuCeiling: 1472, mtuFloor: 548 });
  });
});

it('describeError puts the code first and names the peer or file', () => {
  expect(describeError(new ConnectionError('ECONNREFUSED', '127.0.0.1', 9, true))).toBe(
    'utpx: ECONNREFUSED 127.0.0.1:9 (connection refused)',
  );
  const enoent = Object.assign(new Error('x'), { code: 'ENOENT', path: 'missing.bin' });
  expect(describeError(enoent)).toBe('utpx: ENOENT missing.bin (no such file or directory)');
  expect(describeError(Object.assign(new Error('odd'), { code: 'EWHATEVER' }), 'x')).toBe('utpx: EWHATEVER x (odd)');
  expect(describeError(new Error('plain'))).toBe('utpx: plain');
});

describe('progress display', () => {
  const live = {
    direction: 'sent' as const,
    bytes: 12 * 1024 * 1024,
    total: 32 * 1024 * 1024,
    rate: 4e6,
    elapsedMs: 3000,
    cwnd: 1.5 * 1024 * 1024,
    srttUs: 420,
    queuingDelayUs: 25_000,
    retransmits: 3,
  };

  it('the live line has bytes, percent, rate, ETA, cwnd, RTT, queuing delay and retransmits', () => {
    expect(formatLive(live)).toBe(
      'sent 12.0 MiB / 32.0 MiB 37%  4.0 MB/s  ETA 0:05  cwnd 1.5 MiB  rtt 0.42 ms  qdelay 25.0 ms  rtx 3',
    );
    // Size unknown: elapsed time instead of an ETA; nothing measured yet: "-".
    const { total: _, ...noTotal } = live;
    expect(formatLive({ ...noTotal, cwnd: 0, srttUs: 0 })).toBe(
      'sent 12.0 MiB  4.0 MB/s  0:03  cwnd -  rtt -  qdelay 25.0 ms  rtx 3',
    );
  });

  it('the summary is one line', () => {
    expect(
      formatSummary({
        direction: 'received',
        bytes: 1024,
        seconds: 0.5,
        peer: 'from 127.0.0.1:5',
        srttUs: 1500,
        maxCwnd: 0,
        maxQueuingDelayUs: 0,
        retransmits: 1,
      }),
    ).toBe(
      'utpx: received 1.0 KiB from 127.0.0.1:5 in 0.50 s, 2.0 kB/s; rtt 1.50 ms, max cwnd -, max qdelay -, 1 retransmit',
    );
  });

  it('redraws one row in place on a terminal; off it writes only the summary; quiet writes nothing', () => {
    vi.useFakeTimers();
    try {
      let clock = 0;
      let bytes = 0;
      const run = (mode: 'live' | 'summary' | 'quiet'): string => {
        let written = '';
        const p = new Progress({
          stream: { write: (t: string) => (written += t), isTTY: mode === 'live', columns: 40 },
          mode,
          direction: 'sent',
          total: 1000,
          sample: () => ({ bytes, cwnd: 100, srttUs: 1000, queuingDelayUs: 0, retransmits: 0 }),
          now: () => clock,
        });
        bytes = 0;
        p.start();
        for (let i = 0; i < 4; i++) {
          clock += 250;
          bytes += 250;
          vi.advanceTimersByTime(250);
        }
        p.finish();
        return written;
      };
      const tty = run('live');
      const rows = tty.split('\r').filter((r) => r !== '');
      expect(rows.length).toBe(5);
      // Cut to the terminal's width (less one column) so a row never wraps.
      for (const r of rows.slice(0, -1)) expect(r.replace('\x1b[K', '').length).toBeLessThanOrEqual(39);
      expect(rows[0]).toContain('sent 250 B / 1000 B 25%');
      expect(rows[4]?.startsWith('\x1b[Kutpx: sent 1000 B in 1.00 s')).toBe(true);
      expect(run('summary')).toMatch(/^utpx: sent 1000 B in 1\.00 s, 1\.0 kB\/s; .*\n$/);
      expect(run('quiet')).toBe('');
    } finally {
      vi.useRealTimers();
    }
  });
});

function packet(dir: 'in' | 'out', type: PacketTraceRecord['type'], seqNr: number, ackNr: number, payload = 0) {
  return {
    kind: 'packet',
    dir,
    at: 0,
    type,
    connectionId: 1,
    seqNr,
    ackNr,
    windowSize: 1 << 20,
    length: payload + 20,
    payload,
    retransmit: false,
    remoteAddress: '127.0.0.1',
    remotePort: 9,
    localId: 7,
  } satisfies PacketTraceRecord;
}

it("TraceEventStream gives a connection's first state record (taken before its id) the connection's key", () => {
  const events: TraceEvent[] = [];
  const s = new TraceEventStream(0, (e) => events.push(e));
  const init: ConnectionTraceRecord = {
    kind: 'state',
    at: 5,
    value: 'idle',
    event: 'xstate.init',
    remoteAddress: '127.0.0.1',
    remotePort: 9,
    localId: 0,
  };
  s.push(init);
  expect(events).toEqual([]);
  s.push({ ...packet('out', 'SYN', 1, 0), at: 6 });
  expect(events.map((e) => [e.name, e.conn, e.time])).toEqual([
    ['state_updated', '127.0.0.1:9/7', 5],
    ['packet_sent', '127.0.0.1:9/7', 6],
  ]);
  // One that never gets an id comes out as it was on flush.
  s.push({ ...init, remotePort: 10 });
  s.flush();
  expect(events[2]?.conn).toBe('127.0.0.1:10/0');
});

describe('plot', () => {
  /** A sender's trace: 3 DATA packets across the seq wrap, one lost and retransmitted, a SACK. */
  function senderTrace(): Trace {
    const conn = '127.0.0.1:9/7';
    const ev = (time: number, name: TraceEvent['name'], data: object): TraceEvent =>
      ({ time, name, conn, data }) as TraceEvent;
    const pkt = (type: string, seq: number, ack: number, payload = 0, extra: object = {}) => ({
      type,
      seq,
      ack,
      wnd: 1 << 20,
      size: payload + 20,
      payload,
      ...extra,
    });
    const metrics = (cwnd: number) => ({
      cwnd,
      srttUs: 2000,
      rtoUs: 500_000,
      queuingDelayUs: 1000,
      bytesInFlight: 0,
      peerWindow: 1 << 20,
      packetSize: 1500,
      retransmits: 0,
    });
    return {
      header: traceHeader(0, { title: 'a <test> & more' }),
      events: [
        ev(0, 'state_updated', { state: 'idle', trigger: 'xstate.init' }),
        ev(1000, 'packet_sent', pkt('SYN', 65533, 0)),
        ev(2000, 'packet_received', pkt('STATE', 500, 65533)),
        ev(3000, 'packet_sent', pkt('DATA', 65534, 499, 1000)),
        ev(3000, 'packet_sent', pkt('DATA', 65535, 499, 1000)),
        ev(3000, 'packet_sent', pkt('DATA', 0, 499, 400)),
        ev(5000, 'metrics_updated', metrics(3000)),
        // 65534 lost: the peer acks the SYN only and SACKs 0.
        ev(6000, 'packet_received', pkt('STATE', 500, 65533, 0, { sack: [0] })),
        ev(7000, 'packet_sent', pkt('DATA', 65534, 499, 1000, { retransmit: true })),
        ev(8000, 'packet_received', pkt('STATE', 500, 0)),
        ev(9000, 'metrics_updated', metrics(1500)),
        ev(10_000, 'state_updated', { state: 'closed', trigger: 'FIN_ACKED' }),
      ],
    };
  }

  it('turns seqs into stream offsets across the wrap and sorts packets into series', () => {
    const m = buildPlotModel(senderTrace());
    expect(m.view).toBe('sender');
    expect(m.totalBytes).toBe(2400);
    expect(m.data).toEqual([
      { t: 0.003, lo: 0, hi: 1000 },
      { t: 0.003, lo: 1000, hi: 2000 },
      { t: 0.003, lo: 2000, hi: 2400 },
    ]);
    expect(m.retransmits).toEqual([{ t: 0.007, lo: 0, hi: 1000 }]);
    expect(m.sacks).toEqual([{ t: 0.006, lo: 2000, hi: 2400 }]);
    // The SYN-ACK acks offset 0; the last ack (of seq 0, past the wrap) covers everything.
    expect(m.acks).toEqual([
      { t: 0.002, v: 0 },
      { t: 0.008, v: 2400 },
    ]);
    expect(m.duration).toBe(0.01);
    expect(m.cwnd.map((s) => s.v)).toEqual([3000, 1500]);
    expect(m.srtt.map((s) => s.v)).toEqual([2, 2]);
    expect(m.states.map((s) => s.state)).toEqual(['idle', 'closed']);
    expect(m.targetDelay).toBe(100);
  });

  it('reads the receiver side of the same transfer', () => {
    const conn = '127.0.0.1:5/8';
    const ev = (
      time: number,
      name: 'packet_sent' | 'packet_received',
      type: string,
      seq: number,
      ack: number,
      payload = 0,
    ) => ({ time, name, conn, data: { type, seq, ack, wnd: 1, size: payload + 20, payload } }) as TraceEvent;
    const m = buildPlotModel({
      header: traceHeader(0),
      events: [
        ev(0, 'packet_sent', 'STATE', 500, 10),
        // 11 arrives after 12: a late arrival; then 12 again: a repeat.
        ev(1000, 'packet_received', 'DATA', 12, 499, 100),
        ev(2000, 'packet_received', 'DATA', 11, 499, 300),
        ev(2000, 'packet_sent', 'STATE', 500, 12),
        ev(3000, 'packet_received', 'DATA', 12, 499, 100),
      ],
    });
    expect(m.view).toBe('receiver');
    expect(m.data).toEqual([{ t: 0.001, lo: 300, hi: 400 }]);
    expect(m.retransmits).toEqual([
      { t: 0.002, lo: 0, hi: 300 },
      { t: 0.003, lo: 300, hi: 400 },
    ]);
    expect(m.acks.map((a) => a.v)).toEqual([0, 400]);
  });

  it('picks the connection with the most data, or the one asked for', () => {
    const t = senderTrace();
    const other = {
      time: 0,
      name: 'packet_sent',
      conn: 'x:1/2',
      data: { type: 'SYN', seq: 1, ack: 0, wnd: 1, size: 20, payload: 0 },
    };
    const both: Trace = { ...t, events: [other as TraceEvent, ...t.events] };
    expect(buildPlotModel(both).conn).toBe('127.0.0.1:9/7');
    expect(buildPlotModel(both, { conn: 'x:1/2' }).conn).toBe('x:1/2');
    expect(() => buildPlotModel(both, { conn: 'nope' })).toThrow(PlotError);
    expect(() => buildPlotModel({ header: traceHeader(0), events: [] })).toThrow(PlotError);
  });

  it('escapes text, and survives its own output through the trace parser round trip', () => {
    const t = senderTrace();
    const svg = renderSvg(
      buildPlotModel(parseTrace([JSON.stringify(t.header), ...t.events.map((e) => JSON.stringify(e))].join('\n'))),
    );
    expect(svg).toContain('a &lt;test&gt; &amp; more');
    expect(svg).not.toContain('<test>');
    expect(svg.startsWith("<svg xmlns='http://www.w3.org/2000/svg'")).toBe(true);
  });

  it('a 25 000-packet transfer makes an SVG of tens of KB, not megabytes', () => {
    const conn = '127.0.0.1:9/7';
    const events: TraceEvent[] = [];
    for (let i = 0; i < 25_000; i++) {
      const seq = (60_000 + i) & 0xffff;
      const data = {
        type: 'DATA',
        seq,
        ack: 1,
        wnd: 1 << 20,
        size: 1472,
        payload: 1452,
        ...(i % 1000 === 7 ? { retransmit: true } : {}),
      };
      events.push({ time: i * 40, name: 'packet_sent', conn, data } as TraceEvent);
      const ack = { type: 'STATE', seq: 2, ack: seq, wnd: 1 << 20, size: 20, payload: 0 };
      events.push({ time: i * 40 + 20, name: 'packet_received', conn, data: ack } as TraceEvent);
    }
    const svg = renderSvg(buildPlotModel({ header: traceHeader(0), events }));
    expect(svg.length).toBeLessThan(100_000);
    expect(svg).toContain("data-series='data' data-points='24975'");
    expect(svg).toContain("data-series='retransmit' data-points='25'");
  });

  it('ticks are round and end at or above the maximum; decimation keeps at most 4 points per pixel column', () => {
    expect(niceTicks(33_554_432 / 1048576, 6)).toEqual([0, 10, 20, 30, 40]);
    expect(niceTicks(0.458, 8)).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5]);
    expect(niceTicks(0)).toEqual([0, 1]);
    const points = Array.from({ length: 10_000 }, (_, i) => ({ x: i / 100, y: Math.sin(i) }));
    const d = decimateLine(points);
    expect(d.length).toBeLessThanOrEqual(4 * 101);
    expect(d[0]).toBe(points[0]);
    expect(d[d.length - 1]).toBe(points[points.length - 1]);
    // Each column's extremes survive.
    const col = points.filter((p) => Math.round(p.x) === 50);
    const kept = d.filter((p) => Math.round(p.x) === 50).map((p) => p.y);
    expect(Math.max(...kept)).toBe(Math.max(...col.map((p) => p.y)));
    expect(Math.min(...kept)).toBe(Math.min(...col.map((p) => p.y)));
  });
});
