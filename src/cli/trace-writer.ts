/**
 * `--trace FILE`: the trace file (docs/trace.md) of every connection on one utpx port. Packets and
 * state changes come from the socket's `trace` option; cwnd, RTT and queuing delay are sampled from
 * `socket.stats()` every `metricsIntervalMs`, since the core reports them only when asked.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { monotonicUs } from '../io/clock.js';
import type { Socket } from '../io/socket.js';
import type { ConnectionTrace } from '../machines/connection.js';
import { connKey, metricsFrom, serializeEvent, type TraceEvent, traceHeader } from '../trace/format.js';
import { TraceEventStream } from '../trace/records.js';

export interface TraceWriterOptions {
  title?: string;
  vantagePoint?: string;
  /** Default 20 ms: enough points to draw a sub-second loopback transfer; 50 lines a second. */
  metricsIntervalMs?: number;
}

/** Lines are gathered and written in blocks of about this many characters. */
const BLOCK = 64 * 1024;

export class TraceWriter {
  /** Pass this as the `trace` option of `createServer`, `connect` or `utp()`. */
  readonly trace: ConnectionTrace;
  private readonly fd: number;
  private readonly referenceTimeUs: number;
  private readonly stream: TraceEventStream;
  private readonly intervalMs: number;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Settable until the first event: `listen` knows its port only after binding. */
  title: string | undefined;
  private readonly vantagePoint: string | undefined;
  private readonly startedAt: string;
  private headerWritten = false;
  private pending: string[] = [];
  private pendingChars = 0;
  private closed = false;

  /** Opens (truncates) the file at once, so a bad path fails before any connection starts. */
  constructor(path: string, opts: TraceWriterOptions = {}) {
    this.fd = openSync(path, 'w');
    this.referenceTimeUs = monotonicUs();
    this.intervalMs = opts.metricsIntervalMs ?? 20;
    this.title = opts.title;
    this.vantagePoint = opts.vantagePoint;
    this.startedAt = new Date().toISOString();
    this.stream = new TraceEventStream(this.referenceTimeUs, (e) => this.line(serializeEvent(e)));
    this.trace = (record) => {
      if (!this.closed) this.stream.push(record);
    };
  }

  /** Sample this socket's metrics until it closes, and once more when it does. */
  watch(socket: Socket): void {
    const sample = (): void => {
      const event = metricsEvent(socket, monotonicUs() - this.referenceTimeUs);
      if (event !== undefined && !this.closed) this.line(serializeEvent(event));
    };
    // unref'd: sampling never keeps the process alive on its own.
    const timer = setInterval(sample, this.intervalMs).unref();
    this.timers.add(timer);
    socket.once('connect', sample);
    socket.once('close', () => {
      clearInterval(timer);
      this.timers.delete(timer);
      sample();
    });
  }

  /** Write everything out and close the file. Synchronous, so it can run on the way to process.exit. */
  close(): void {
    if (this.closed) return;
    this.stream.flush();
    // A file with no events still gets its header: it is a valid, empty trace.
    if (!this.headerWritten) this.writeHeader();
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers.clear();
    this.drain();
    closeSync(this.fd);
  }

  private writeHeader(): void {
    this.headerWritten = true;
    const header = traceHeader(this.referenceTimeUs, {
      ...(this.title !== undefined ? { title: this.title } : {}),
      ...(this.vantagePoint !== undefined ? { vantagePoint: this.vantagePoint } : {}),
      startedAt: this.startedAt,
    });
    this.pending.push(serializeEvent(header));
  }

  private line(text: string): void {
    if (!this.headerWritten) this.writeHeader();
    this.pending.push(text);
    this.pendingChars += text.length + 1;
    if (this.pendingChars >= BLOCK) this.drain();
  }

  /**
   * Synchronous blocks: a 64 KiB write to a local file costs tens of µs, far less than keeping the
   * lines in order through an async stream would complicate closing.
   */
  private drain(): void {
    if (this.pending.length === 0) return;
    writeSync(this.fd, `${this.pending.join('\n')}\n`);
    this.pending = [];
    this.pendingChars = 0;
  }
}

/** The socket's metrics as an event, or undefined while it has no connection id yet. */
function metricsEvent(socket: Socket, time: number): TraceEvent | undefined {
  const conn = socket.connection;
  if (conn === undefined || conn.recvId === 0) return undefined;
  const data = metricsFrom(conn.stats(), socket.bytesRead, socket.bytesWritten);

  return { time, name: 'metrics_updated', conn: connKey(conn.remoteAddress, conn.remotePort, conn.recvId), data };
}
