/**
 * The `utpx` command as a user runs it: subprocesses over loopback, files in a temp dir.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOMParser, type Element } from '@xmldom/xmldom';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { utp } from '../../src/io/index.js';
import { parseTrace, type Trace, type TraceEvent } from '../../src/trace/format.js';
import { killAll, root, runCli, startCli, startListen, tempDir } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir();
});
afterAll(() => tmp.remove());
afterEach(() => killAll());

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('arguments', () => {
  it('--help prints the usage on stdout and exits 0; --version prints the package version', async () => {
    const [help, version] = await Promise.all([runCli(['--help']), runCli(['--version'])]);
    expect(help.code).toBe(0);
    expect(help.stdout.toString()).toMatch(/utpx listen .*\n\s+utpx send HOST PORT/);
    expect(version.code).toBe(0);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(version.stdout.toString().trim()).toBe(pkg.version);
  });

  it('bad arguments print the reason and the usage on stderr and exit 2', async () => {
    // A few kinds as subprocesses (the rest of parseCommand is tested in-process, units.test.ts).
    const cases = [[], ['send', '127.0.0.1'], ['send', '127.0.0.1', 'http'], ['listen', '--nope']];
    const results = await Promise.all(cases.map((args) => runCli(args)));
    results.forEach((r, i) => {
      expect(r.code, `utpx ${cases[i]?.join(' ')}`).toBe(2);
      expect(r.stderr).toMatch(/^utpx: .+\n\nutpx: uTP/);
      expect(r.stderr).toContain('Usage:');
      expect(r.stdout.length).toBe(0);
    });
  });
});

describe('transfers over loopback', () => {
  it('listen + send move a 32 MiB file intact; off a terminal only the summary is printed', async () => {
    const input = join(tmp.dir, 'in-32m.bin');
    const output = join(tmp.dir, 'out-32m.bin');
    const data = randomBytes(32 * 1024 * 1024);
    writeFileSync(input, data);
    const listener = await startListen(['--output', output]);
    const sender = await runCli(['send', '127.0.0.1', String(listener.port), input]);
    const received = await listener.result;
    expect(sender.code, sender.stderr).toBe(0);
    expect(received.code, received.stderr).toBe(0);
    expect(sha256(readFileSync(output))).toBe(sha256(data));
    // No live line (no \r) off a terminal: the sender prints exactly its summary.
    expect(sender.stderr).not.toContain('\r');
    expect(sender.stderr).toMatch(/^utpx: sent 32\.0 MiB to 127\.0\.0\.1:\d+ in [\d.]+ s, .+ retransmits?\n$/);
    expect(received.stderr).toMatch(/utpx: received 32\.0 MiB from 127\.0\.0\.1:\d+ in /);
    expect(sender.stdout.length).toBe(0);
    expect(received.stdout.length).toBe(0);
  });

  it('pipes both ways like nc: send stdin → listen stdout, listen stdin → send stdout; --quiet prints nothing', async () => {
    const ping = randomBytes(300_000);
    const listener = await startListen([], { input: 'pong\n' });
    const sender = await runCli(['send', '127.0.0.1', String(listener.port), '-', '--quiet'], { input: ping });
    const received = await listener.result;
    expect(sender.code, sender.stderr).toBe(0);
    expect(received.code, received.stderr).toBe(0);
    expect(sha256(received.stdout)).toBe(sha256(ping));
    // (listen is not --quiet: the helper finds its port in "listening on".)
    expect(sender.stdout.toString()).toBe('pong\n');
    expect(sender.stderr).toBe('');
  });

  it('a refused connection prints one line and exits 1', async () => {
    // A utpx port that is bound but not listening answers a SYN with RESET at once.
    const refuser = utp();
    await new Promise<void>((resolve) => refuser.bind(0, '127.0.0.1', resolve));
    const { port } = refuser.address();
    try {
      const r = await runCli(['send', '127.0.0.1', String(port)], { input: 'hello' });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`utpx: ECONNREFUSED 127.0.0.1:${port} (connection refused)\n`);
    } finally {
      await new Promise<void>((resolve) => refuser.close(() => resolve()));
    }
  });
});

describe('--trace and plot', () => {
  const size = 400_000;
  let sendTrace: Trace;
  let listenTrace: Trace;
  let sendTraceFile: string;

  beforeAll(async () => {
    const input = join(tmp.dir, 'in-trace.bin');
    writeFileSync(input, randomBytes(size));
    sendTraceFile = join(tmp.dir, 'send.jsonl');
    const listenTraceFile = join(tmp.dir, 'listen.jsonl');
    // Small packets, so the trace has many DATA packets to plot.
    const listener = await startListen(['--output', join(tmp.dir, 'out-trace.bin'), '--trace', listenTraceFile]);
    const sender = await runCli([
      'send',
      '127.0.0.1',
      String(listener.port),
      input,
      '--trace',
      sendTraceFile,
      '--max-packet-size',
      '1200',
    ]);
    const received = await listener.result;
    expect(sender.code, sender.stderr).toBe(0);
    expect(received.code, received.stderr).toBe(0);
    sendTrace = parseTrace(readFileSync(sendTraceFile, 'utf8'));
    listenTrace = parseTrace(readFileSync(listenTraceFile, 'utf8'));
  });

  const packets = (t: Trace, name: 'packet_sent' | 'packet_received', type: string): number[] =>
    t.events.flatMap((e, i) => (e.name === name && e.data.type === type ? [i] : []));

  it('the sender trace shows SYN out, STATE in, DATA out, FIN out, in that order, all of one connection', () => {
    expect(sendTrace.header).toMatchObject({ format: 'utpx-trace', version: 1, vantagePoint: 'client' });
    const syn = packets(sendTrace, 'packet_sent', 'SYN');
    const state = packets(sendTrace, 'packet_received', 'STATE');
    const data = packets(sendTrace, 'packet_sent', 'DATA');
    const fin = packets(sendTrace, 'packet_sent', 'FIN');
    expect(syn.length).toBe(1);
    expect(state[0]).toBeGreaterThan(syn[0] as number);
    expect(data[0]).toBeGreaterThan(state[0] as number);
    expect(fin[0]).toBeGreaterThan(data[data.length - 1] as number);
    // Every DATA payload byte, first transmissions only, adds up to the file.
    const payload = sendTrace.events.reduce(
      (n, e) => n + (e.name === 'packet_sent' && e.data.type === 'DATA' && !e.data.retransmit ? e.data.payload : 0),
      0,
    );
    expect(payload).toBe(size);
    expect(new Set(sendTrace.events.map((e) => e.conn)).size).toBe(1);
    const states = sendTrace.events.flatMap((e) => (e.name === 'state_updated' ? [e.data.state] : []));
    expect(states[0]).toBe('idle');
    expect(states[1]).toBe('connecting.synSent');
    expect(states[states.length - 1]).toBe('closed');
    const metrics = sendTrace.events.filter((e) => e.name === 'metrics_updated');
    expect(metrics.length).toBeGreaterThan(0);
    expect(metrics.every((e) => e.name === 'metrics_updated' && e.data.cwnd > 0)).toBe(true);
    // Times are µs from the header's reference, in order.
    const times = sendTrace.events.map((e) => e.time);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('the receiver trace shows the SYN-ACK (STATE) out, DATA in, FIN in, in that order', () => {
    expect(listenTrace.header.vantagePoint).toBe('server');
    const states = listenTrace.events.flatMap((e) => (e.name === 'state_updated' ? [e] : []));
    // The SYN and the state change it causes, with SYN as its trigger.
    expect(states[1]?.data).toEqual({ state: 'synReceived', trigger: 'SYN' });
    const synIn = packets(listenTrace, 'packet_received', 'SYN');
    const state = packets(listenTrace, 'packet_sent', 'STATE');
    const data = packets(listenTrace, 'packet_received', 'DATA');
    const fin = packets(listenTrace, 'packet_received', 'FIN');
    expect(synIn).toHaveLength(1);
    expect(state[0]).toBeGreaterThan(synIn[0] as number);
    expect(data[0]).toBeGreaterThan(state[0] as number);
    expect(fin[0]).toBeGreaterThan(data[data.length - 1] as number);
    expect(new Set(listenTrace.events.map((e) => e.conn)).size).toBe(1);
  });

  it('plot writes a valid SVG whose series match the trace', async () => {
    const svgFile = join(tmp.dir, 'send.svg');
    const r = await runCli(['plot', sendTraceFile, '--out', svgFile]);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(svgFile, 'utf8');
    const doc = new DOMParser({
      onError: (level, message) => {
        throw new Error(`${level}: ${message}`);
      },
    }).parseFromString(text, 'image/svg+xml');
    const svg = doc.documentElement as Element;
    expect(svg.tagName).toBe('svg');
    expect(svg.getAttribute('xmlns')).toBe('http://www.w3.org/2000/svg');
    // Decimated: a few hundred points per series, not one element per packet.
    expect(text.length).toBeLessThan(200_000);

    const conn = sendTrace.events[0]?.conn as string;
    expect(svg.getAttribute('data-conn')).toBe(conn);
    expect(svg.getAttribute('data-view')).toBe('sender');
    const paths = [...(doc.getElementsByTagName('path') as unknown as Element[])];
    const seriesPath = (name: string): Element => {
      const p = paths.find((e) => e.getAttribute('data-series') === name);
      expect(p, `series ${name}`).toBeDefined();
      return p as Element;
    };
    const count = (pred: (e: TraceEvent) => boolean): number => sendTrace.events.filter(pred).length;
    const sent = (e: TraceEvent): boolean => e.name === 'packet_sent' && e.data.type === 'DATA';
    expect(Number(seriesPath('data').getAttribute('data-points'))).toBe(
      count((e) => sent(e) && !(e.name === 'packet_sent' && e.data.retransmit)),
    );
    expect(Number(seriesPath('retransmit').getAttribute('data-points'))).toBe(
      count((e) => sent(e) && e.name === 'packet_sent' && e.data.retransmit === true),
    );
    const metrics = count((e) => e.name === 'metrics_updated');
    expect(Number(seriesPath('cwnd').getAttribute('data-points'))).toBe(metrics);
    expect(Number(seriesPath('queuing-delay').getAttribute('data-points'))).toBe(metrics);

    // Geometry: the cumulative ack ends at the file's size, the data marks reach it.
    const panel = [...(doc.getElementsByTagName('g') as unknown as Element[])].find(
      (g) => g.getAttribute('data-panel') === 'sequence',
    ) as Element;
    const [d0, d1] = (panel.getAttribute('data-y-domain') as string).split(',').map(Number) as [number, number];
    const [r0, r1] = (panel.getAttribute('data-y-range') as string).split(',').map(Number) as [number, number];
    const toBytes = (y: number): number => d0 + ((y - r0) * (d1 - d0)) / (r1 - r0);
    const bytesPerPixel = (d1 - d0) / Math.abs(r1 - r0);
    const ys = (d: string): number[] => [...d.matchAll(/[MLV](?:[\d.-]+ )?([\d.-]+)/g)].map((m) => Number(m[1]));
    const ackYs = ys(seriesPath('ack').getAttribute('d') as string);
    expect(Math.abs(toBytes(ackYs[ackYs.length - 1] as number) - size)).toBeLessThanOrEqual(bytesPerPixel);
    const dataTop = Math.max(...ys(seriesPath('data').getAttribute('d') as string).map(toBytes));
    expect(Math.abs(dataTop - size)).toBeLessThanOrEqual(2 * bytesPerPixel);
    // And the dashed LEDBAT target is drawn.
    const target = [...(doc.getElementsByTagName('line') as unknown as Element[])].find(
      (l) => l.getAttribute('data-series') === 'target',
    );
    expect(target?.getAttribute('stroke-dasharray')).toBeTruthy();
  });

  it('plot of a file that is not a trace prints one line and exits 1', async () => {
    const bad = join(tmp.dir, 'bad.jsonl');
    writeFileSync(bad, 'not json\n');
    const r = await runCli(['plot', bad, '--out', join(tmp.dir, 'bad.svg')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('utpx: trace line 1: not JSON\n');
  });
});

it('listen reports a port in use as one line and exits 1', async () => {
  const holder = utp();
  await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
  const { port } = holder.address();
  try {
    const p = startCli(['listen', '--host', '127.0.0.1', '--port', String(port)]);
    const r = await p.result;
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`utpx: EADDRINUSE 127.0.0.1:${port} (address already in use)\n`);
  } finally {
    await new Promise<void>((resolve) => holder.close(() => resolve()));
  }
});
