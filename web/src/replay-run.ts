/**
 * A loaded trace played back: its events are released as the clock passes their times, so the
 * views redraw the run exactly as they drew it live (the chart from `state_updated`, the plots
 * from packets and `metrics_updated`).
 */
import type { Trace, TraceEvent, TraceHeader } from './engine.js';
import { isPacketEvent, type Run } from './run.js';

export class ReplayRun implements Run {
  readonly kind = 'replay';
  readonly header: TraceHeader;
  readonly events: TraceEvent[] = [];
  /** Time of the last event: the end of the replay. */
  readonly endTime: number;
  private readonly all: readonly TraceEvent[];
  private next = 0;
  private clock = 0;

  constructor(trace: Trace) {
    this.header = trace.header;
    // A writer may interleave sides slightly out of order; the views want time order (stable).
    this.all = trace.events
      .map((e, i) => ({ e, i }))
      .sort((a, b) => a.e.time - b.e.time || a.i - b.i)
      .map((x) => x.e);
    this.endTime = this.all.length === 0 ? 0 : (this.all[this.all.length - 1] as TraceEvent).time;
    this.clock = Math.min(0, this.all[0]?.time ?? 0);
    this.release();
  }

  get now(): number {
    return this.clock;
  }

  get done(): boolean {
    return this.next >= this.all.length;
  }

  advance(us: number): void {
    this.clock = Math.min(this.endTime, this.clock + us);
    this.release();
  }

  step(): void {
    let i = this.next;
    while (i < this.all.length && !isPacketEvent(this.all[i] as TraceEvent)) i++;
    const target = this.all[i];
    this.clock = target === undefined ? this.endTime : Math.max(this.clock, target.time);
    this.release();
  }

  runToEnd(): void {
    this.clock = this.endTime;
    this.release();
  }

  private release(): void {
    while (this.next < this.all.length && (this.all[this.next] as TraceEvent).time <= this.clock) {
      this.events.push(this.all[this.next] as TraceEvent);
      this.next++;
    }
  }
}
