/**
 * A min-heap of deadlines (µs): the one timer table an endpoint owns. The IO driver arms a single
 * real timer for `nextDeadline()` and calls `fire(now)` when it goes off; the simulator jumps its
 * virtual clock straight to `nextDeadline()`. Nothing here reads a clock.
 *
 * Cancellation is lazy (the entry is marked and skipped when it surfaces), so cancel is O(1) and
 * re-arming a timer costs one push.
 */
export interface TimerHandle {
  readonly at: number;
  /** Schedule order: timers due at the same µs fire first-scheduled first. */
  readonly order: number;
  cancelled: boolean;
  readonly fn: () => void;
}

export class TimerQueue {
  private heap: TimerHandle[] = [];
  private live = 0;
  private scheduled = 0;

  /** Number of timers that will still fire. */
  get size(): number {
    return this.live;
  }

  schedule(at: number, fn: () => void): TimerHandle {
    const t: TimerHandle = { at, order: this.scheduled++, cancelled: false, fn };
    this.heap.push(t);
    this.up(this.heap.length - 1);
    this.live++;
    return t;
  }

  cancel(t: TimerHandle | undefined): void {
    if (t === undefined || t.cancelled) return;
    t.cancelled = true;
    this.live--;
  }

  /** The earliest live deadline, or Infinity when nothing is scheduled. */
  nextDeadline(): number {
    this.dropCancelled();
    return this.heap.length > 0 ? (this.heap[0] as TimerHandle).at : Number.POSITIVE_INFINITY;
  }

  /** Run every timer due at or before `now`, earliest first, including ones scheduled while firing. */
  fire(now: number): number {
    let n = 0;
    for (;;) {
      this.dropCancelled();
      const top = this.heap[0];
      if (top === undefined || top.at > now) return n;
      this.pop();
      top.cancelled = true;
      this.live--;
      n++;
      top.fn();
    }
  }

  clear(): void {
    for (const t of this.heap) t.cancelled = true;
    this.heap.length = 0;
    this.live = 0;
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && (this.heap[0] as TimerHandle).cancelled) this.pop();
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as TimerHandle;
    if (h.length > 0) {
      h[0] = last;
      this.down(0);
    }
  }

  private up(i: number): void {
    const h = this.heap;
    const t = h[i] as TimerHandle;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as TimerHandle;
      if (!before(t, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = t;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const t = h[i] as TimerHandle;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      const r = c + 1;
      if (r < n && before(h[r] as TimerHandle, h[c] as TimerHandle)) c = r;
      if (!before(h[c] as TimerHandle, t)) break;
      h[i] = h[c] as TimerHandle;
      i = c;
    }
    h[i] = t;
  }
}

function before(a: TimerHandle, b: TimerHandle): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}
