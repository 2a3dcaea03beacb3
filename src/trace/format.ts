/**
 * The utpx trace file: JSON lines, qlog-like, version 1 (docs/trace.md describes it for readers).
 *
 * Line 1 is a header; every later line is one event `{ time, name, conn, data }` with `time` in µs
 * since the header's `referenceTimeUs`. The CLI writes these files (`--trace`), `utpx plot` and the
 * browser playground read them, and the playground exports them. Nothing here touches Node.
 */
import type { ConnectionStats } from '../core/connection.js';
import type { ConnectionTraceRecord } from '../machines/connection.js';
import type { PacketTypeName } from '../wire/constants.js';

export const TRACE_FORMAT = 'utpx-trace';
export const TRACE_VERSION = 1;

export interface TraceHeader {
  readonly format: typeof TRACE_FORMAT;
  readonly version: typeof TRACE_VERSION;
  /** Free text: what was traced. */
  readonly title?: string;
  /** Who wrote the trace: the sending or receiving CLI, the simulator, … */
  readonly vantagePoint?: 'client' | 'server' | 'sim' | string;
  /** Wall-clock start, ISO 8601 (absent for simulated runs). */
  readonly startedAt?: string;
  /** Event times are µs since this value of the writer's µs clock. */
  readonly referenceTimeUs: number;
  readonly timeUnit: 'us';
}

/** A connection as "address:port/localId" (localId: the id this side receives on). */
export type ConnKey = string;

export interface PacketEventData {
  readonly type: PacketTypeName;
  readonly seq: number;
  readonly ack: number;
  readonly wnd: number;
  /** Datagram bytes. */
  readonly size: number;
  /** Payload bytes. */
  readonly payload: number;
  /** Sequence numbers selectively acked, when the packet carries a SACK. */
  readonly sack?: readonly number[];
  readonly retransmit?: boolean;
}

export interface StateEventData {
  /** The chart's active leaf states joined: "connecting.synSent", "connected.send.open,receive.open,…". */
  readonly state: string;
  /** The event that caused the change. */
  readonly trigger: string;
}

export interface MetricsEventData {
  readonly cwnd: number;
  readonly srttUs: number;
  readonly rtoUs: number;
  readonly queuingDelayUs: number;
  readonly bytesInFlight: number;
  readonly peerWindow: number;
  readonly packetSize: number;
  readonly retransmits: number;
  /** Bytes delivered to the application so far / bytes handed to the connection so far. */
  readonly bytesReceived?: number;
  readonly bytesSent?: number;
}

/** The connection figures a metrics event carries, taken from its stats (the byte counts are the caller's). */
export function metricsFrom(
  s: Pick<
    ConnectionStats,
    'cwnd' | 'srttUs' | 'rtoUs' | 'queuingDelayUs' | 'bytesInFlight' | 'peerWindow' | 'packetSize' | 'retransmits'
  >,
  bytesReceived: number,
  bytesSent: number,
): MetricsEventData {
  return {
    cwnd: s.cwnd,
    srttUs: s.srttUs,
    rtoUs: s.rtoUs,
    queuingDelayUs: s.queuingDelayUs,
    bytesInFlight: s.bytesInFlight,
    peerWindow: s.peerWindow,
    packetSize: s.packetSize,
    retransmits: s.retransmits,
    bytesReceived,
    bytesSent,
  };
}

/** A datagram the (simulated) network lost; only simulator traces have these. */
export interface DropEventData {
  readonly type: PacketEventData['type'] | 'OTHER';
  readonly seq: number;
  readonly size: number;
  /** 'loss', 'queue' (drop-tail overflow), 'mtu' (bigger than the link takes). */
  readonly reason: string;
  /** The endpoint the datagram was travelling to. */
  readonly to?: string;
}

export type TraceEvent =
  | {
      readonly time: number;
      readonly name: 'packet_sent' | 'packet_received';
      readonly conn: ConnKey;
      readonly data: PacketEventData;
    }
  | { readonly time: number; readonly name: 'state_updated'; readonly conn: ConnKey; readonly data: StateEventData }
  | { readonly time: number; readonly name: 'metrics_updated'; readonly conn: ConnKey; readonly data: MetricsEventData }
  | { readonly time: number; readonly name: 'packet_dropped'; readonly conn: ConnKey; readonly data: DropEventData };

export interface Trace {
  readonly header: TraceHeader;
  readonly events: TraceEvent[];
}

export function traceHeader(
  referenceTimeUs: number,
  extra: Partial<Omit<TraceHeader, 'format' | 'version'>> = {},
): TraceHeader {
  return { format: TRACE_FORMAT, version: TRACE_VERSION, timeUnit: 'us', ...extra, referenceTimeUs };
}

export function connKey(remoteAddress: string, remotePort: number, localId: number): ConnKey {
  return `${remoteAddress}:${remotePort}/${localId}`;
}

/**
 * The active leaf states as dotted paths joined by commas, e.g. "connecting.synSent" or
 * "connected.send.open,connected.receive.open,connected.liveness.alive".
 */
export function stateName(value: unknown): string {
  const leaves: string[] = [];
  const walk = (v: unknown, prefix: string): void => {
    if (v !== null && typeof v === 'object') {
      for (const [k, inner] of Object.entries(v as Record<string, unknown>)) walk(inner, prefix ? `${prefix}.${k}` : k);
    } else leaves.push(prefix ? `${prefix}.${String(v)}` : String(v));
  };
  walk(value, '');
  return leaves.join(',');
}

/** A connection's trace record (the `trace` option's argument) as a trace-file event. */
export function recordToEvent(record: ConnectionTraceRecord, referenceTimeUs: number): TraceEvent {
  const conn = connKey(record.remoteAddress, record.remotePort, record.localId);
  const time = record.at - referenceTimeUs;
  if (record.kind === 'state') {
    return { time, name: 'state_updated', conn, data: { state: stateName(record.value), trigger: record.event } };
  }
  const data: PacketEventData = {
    type: record.type,
    seq: record.seqNr,
    ack: record.ackNr,
    wnd: record.windowSize,
    size: record.length,
    payload: record.payload,
    ...(record.sack ? { sack: record.sack } : {}),
    ...(record.retransmit ? { retransmit: true } : {}),
  };
  return { time, name: record.dir === 'out' ? 'packet_sent' : 'packet_received', conn, data };
}

/** One JSON line (no newline). */
export function serializeEvent(event: TraceEvent | TraceHeader): string {
  return JSON.stringify(event);
}

export class TraceParseError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`trace line ${line}: ${message}`);
    this.name = 'TraceParseError';
    this.line = line;
  }
}

const EVENT_NAMES = new Set(['packet_sent', 'packet_received', 'state_updated', 'metrics_updated', 'packet_dropped']);

/** Parse a whole trace file. Throws TraceParseError on a bad header or a malformed line; skips blank lines. */
export function parseTrace(text: string): Trace {
  const lines = text.split('\n');
  let header: TraceHeader | undefined;
  const events: TraceEvent[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      throw new TraceParseError(i + 1, 'not JSON');
    }
    if (obj === null || typeof obj !== 'object') throw new TraceParseError(i + 1, 'not an object');
    const o = obj as Record<string, unknown>;
    if (header === undefined) {
      if (o.format !== TRACE_FORMAT) throw new TraceParseError(i + 1, `not a ${TRACE_FORMAT} file`);
      if (o.version !== TRACE_VERSION)
        throw new TraceParseError(i + 1, `version ${String(o.version)} (this reads ${TRACE_VERSION})`);
      if (typeof o.referenceTimeUs !== 'number') throw new TraceParseError(i + 1, 'header has no referenceTimeUs');
      header = o as unknown as TraceHeader;
      continue;
    }
    if (
      typeof o.time !== 'number' ||
      typeof o.name !== 'string' ||
      typeof o.conn !== 'string' ||
      typeof o.data !== 'object'
    ) {
      throw new TraceParseError(i + 1, 'event needs time, name, conn and data');
    }
    // Unknown event names are skipped: a newer writer may add kinds an older reader ignores.
    if (EVENT_NAMES.has(o.name)) events.push(o as unknown as TraceEvent);
  }
  if (header === undefined) throw new TraceParseError(1, 'empty trace');
  return { header, events };
}
