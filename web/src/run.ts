/**
 * What the views are driven by: a run that grows a list of trace events as its clock advances.
 * A live run (live-run.ts) simulates and records; a replay (replay-run.ts) releases a loaded trace's
 * events at their times. The views only ever read `events` and `now`, so a replay looks exactly
 * like the run that produced it.
 */
import type { TraceEvent, TraceHeader } from './engine.js';

export interface Run {
  readonly kind: 'live' | 'replay';
  readonly header: TraceHeader;
  /** Everything recorded (live) or released (replay) so far, in time order. */
  readonly events: readonly TraceEvent[];
  /** Trace time reached, µs since `header.referenceTimeUs`. */
  readonly now: number;
  /** Nothing more will happen. */
  readonly done: boolean;
  /** Moves the clock on by `us` (or to the end, if that comes first). */
  advance(us: number): void;
  /** Moves the clock to the next instant at which a packet is sent, received or dropped. */
  step(): void;
  runToEnd(): void;
}

export function isPacketEvent(e: TraceEvent): boolean {
  return e.name === 'packet_sent' || e.name === 'packet_received' || e.name === 'packet_dropped';
}
