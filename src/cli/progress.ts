/**
 * The transfer display of `utpx listen`/`send` and `npm start`: on a terminal a live line on stderr
 * (bytes, rate, ETA when the size is known, cwnd, RTT, queuing delay, retransmits) redrawn a few
 * times a second; a one-line summary at the end. Off a terminal only the summary, so logs stay
 * clean; nothing at all when quiet.
 */

/** What the display reads from a connection every tick. */
export interface TransferSample {
  /** Payload bytes moved so far (acked by the peer when sending; delivered to us when receiving). */
  bytes: number;
  cwnd: number;
  srttUs: number;
  queuingDelayUs: number;
  retransmits: number;
}

export type ProgressMode = 'live' | 'summary' | 'quiet';

/** The stream the display writes to: process.stderr or a test double. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function progressMode(stream: ProgressStream, quiet: boolean): ProgressMode {
  if (quiet) return 'quiet';
  return stream.isTTY ? 'live' : 'summary';
}

export interface ProgressOptions {
  stream: ProgressStream;
  mode: ProgressMode;
  /** 'sent' or 'received': the direction the bytes count. */
  direction: 'sent' | 'received';
  /** Total bytes when known (a regular file being sent): shows percent and ETA. */
  total?: number;
  /** "to 127.0.0.1:9000", "from …": completes the summary. */
  peer?: string;
  sample: () => TransferSample;
  /** Redraw interval; default 250 ms. */
  intervalMs?: number;
  /** ms clock; default performance.now. */
  now?: () => number;
}

/** The rate is taken over this much recent history: steady enough to read, quick to follow a change. */
const RATE_WINDOW_MS = 2000;

export class Progress {
  private readonly opts: ProgressOptions;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private startedAt = 0;
  private history: Array<{ t: number; bytes: number }> = [];
  private maxCwnd = 0;
  private maxQueuingUs = 0;
  private shown = false;
  private done = false;

  constructor(opts: ProgressOptions) {
    this.opts = opts;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Start the clock (and, on a terminal, the live line). */
  start(): void {
    if (this.opts.mode === 'quiet' || this.started || this.done) return;
    this.started = true;
    this.startedAt = this.now();
    this.history = [{ t: this.startedAt, bytes: 0 }];
    // Off a terminal the ticks still run: the summary reports the largest cwnd and delay seen.
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs ?? 250).unref();
  }

  /** Erase the live line so other stderr output does not get mixed into it; the next tick redraws. */
  clear(): void {
    if (this.shown) {
      this.opts.stream.write('\r\x1b[K');
      this.shown = false;
    }
  }

  /** Stop, and print the summary line (unless quiet, or never started). `note` is appended in parentheses. */
  finish(note?: string): void {
    if (this.done) return;
    this.stop();
    if (this.opts.mode === 'quiet' || !this.started) return;
    const s = this.observe();
    this.clear();
    const seconds = (this.now() - this.startedAt) / 1000;
    const line = formatSummary({
      direction: this.opts.direction,
      bytes: s.bytes,
      seconds,
      ...(this.opts.peer !== undefined ? { peer: this.opts.peer } : {}),
      srttUs: s.srttUs,
      maxCwnd: this.maxCwnd,
      maxQueuingDelayUs: this.maxQueuingUs,
      retransmits: s.retransmits,
    });
    this.opts.stream.write(`${line}${note ? ` (${note})` : ''}\n`);
  }

  /** Stop without a summary (the transfer failed: its one error line says what matters). */
  abort(): void {
    if (this.done) return;
    this.stop();
    this.clear();
  }

  private stop(): void {
    this.done = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private observe(): TransferSample {
    const s = this.opts.sample();
    if (s.cwnd > this.maxCwnd) this.maxCwnd = s.cwnd;
    if (s.queuingDelayUs > this.maxQueuingUs) this.maxQueuingUs = s.queuingDelayUs;
    return s;
  }

  private tick(): void {
    const s = this.observe();
    if (this.opts.mode !== 'live') return;
    const t = this.now();
    this.history.push({ t, bytes: s.bytes });
    while (this.history.length > 2 && t - (this.history[1] as { t: number }).t >= RATE_WINDOW_MS) this.history.shift();
    const first = this.history[0] as { t: number; bytes: number };
    const rate = t > first.t ? ((s.bytes - first.bytes) * 1000) / (t - first.t) : 0;
    const line = formatLive({
      direction: this.opts.direction,
      bytes: s.bytes,
      ...(this.opts.total !== undefined ? { total: this.opts.total } : {}),
      rate,
      elapsedMs: t - this.startedAt,
      cwnd: s.cwnd,
      srttUs: s.srttUs,
      queuingDelayUs: s.queuingDelayUs,
      retransmits: s.retransmits,
    });
    // One row, never wrapped: a wrapped line could not be redrawn in place with \r.
    const width = Math.max(20, (this.opts.stream.columns ?? 80) - 1);
    this.opts.stream.write(`\r${line.length > width ? line.slice(0, width) : line}\x1b[K`);
    this.shown = true;
  }
}

export interface LiveState {
  direction: 'sent' | 'received';
  bytes: number;
  total?: number;
  /** Bytes per second. */
  rate: number;
  elapsedMs: number;
  cwnd: number;
  srttUs: number;
  queuingDelayUs: number;
  retransmits: number;
}

/** "sent 12.0/32.0 MiB 37%  187.3 MB/s  ETA 0:02  cwnd 1.2 MiB  rtt 0.4 ms  qdelay 0.1 ms  rtx 0" */
export function formatLive(s: LiveState): string {
  const parts: string[] = [];
  if (s.total !== undefined && s.total > 0) {
    const pct = Math.min(100, Math.floor((s.bytes * 100) / s.total));
    parts.push(`${s.direction} ${formatBytes(s.bytes)} / ${formatBytes(s.total)} ${pct}%`);
  } else parts.push(`${s.direction} ${formatBytes(s.bytes)}`);
  parts.push(formatRate(s.rate));
  if (s.total !== undefined && s.total > 0) {
    const left = s.total - s.bytes;
    parts.push(`ETA ${left <= 0 ? '0:00' : s.rate > 0 ? formatClock(left / s.rate) : '--:--'}`);
  } else parts.push(formatClock(s.elapsedMs / 1000));
  parts.push(`cwnd ${s.cwnd > 0 ? formatBytes(s.cwnd) : '-'}`);
  parts.push(`rtt ${formatMs(s.srttUs)}`);
  parts.push(`qdelay ${formatMs(s.queuingDelayUs)}`);
  parts.push(`rtx ${s.retransmits}`);
  return parts.join('  ');
}

export interface SummaryState {
  direction: 'sent' | 'received';
  bytes: number;
  seconds: number;
  peer?: string;
  srttUs: number;
  maxCwnd: number;
  maxQueuingDelayUs: number;
  retransmits: number;
}

/** "utpx: sent 32.0 MiB to 127.0.0.1:9000 in 0.42 s (80.1 MB/s); rtt 0.3 ms, max cwnd 4.0 MiB, …" */
export function formatSummary(s: SummaryState): string {
  const rate = s.seconds > 0 ? `, ${formatRate(s.bytes / s.seconds)}` : '';
  const peer = s.peer !== undefined ? ` ${s.peer}` : '';
  return (
    `utpx: ${s.direction} ${formatBytes(s.bytes)}${peer} in ${s.seconds.toFixed(2)} s${rate}; ` +
    `rtt ${formatMs(s.srttUs)}, max cwnd ${s.maxCwnd > 0 ? formatBytes(s.maxCwnd) : '-'}, ` +
    `max qdelay ${formatMs(s.maxQueuingDelayUs)}, ${s.retransmits} retransmit${s.retransmits === 1 ? '' : 's'}`
  );
}

/** Binary units, as file sizes are usually shown: 512 B, 12.0 KiB, 32.0 MiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  return `${(n / (1024 * 1024 * 1024)).toFixed(2)} GiB`;
}

/** Decimal MB/s, as the README's and the demo's figures are given. */
export function formatRate(bytesPerSecond: number): string {
  if (bytesPerSecond < 1e3) return `${Math.round(bytesPerSecond)} B/s`;
  if (bytesPerSecond < 1e6) return `${(bytesPerSecond / 1e3).toFixed(1)} kB/s`;
  return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
}

export function formatMs(us: number): string {
  if (us <= 0) return '-';
  const ms = us / 1000;
  return ms < 10 ? `${ms.toFixed(2)} ms` : ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** m:ss, or h:mm:ss past an hour. */
export function formatClock(seconds: number): string {
  const t = Math.max(0, Math.round(seconds));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const ss = String(t % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
