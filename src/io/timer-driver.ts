import type { TimerQueue } from '../core/timer-queue.js';
import type { Clock } from './clock.js';

/** Node refuses delays above this (it substitutes 1 ms and warns); later deadlines fire early and re-arm. */
const MAX_DELAY_MS = 0x7fffffff;

/**
 * Binds a sans-IO TimerQueue to exactly one real Node timer.
 *
 * The Node timer is re-created only when the queue's earliest deadline moves *earlier* than the one
 * it is armed for. A deadline that moves later (a cancelled RTO, a pushed-back keepalive) keeps the
 * armed timer: it fires early, finds nothing due, and re-arms — cheaper than a clearTimeout +
 * setTimeout on every ACK. When the queue empties the timer is cleared, so a ref'd driver does not
 * hold the process open for a timer nobody wants.
 *
 * Node timers have 1 ms resolution and may fire slightly before the requested delay (libuv measures
 * from a cached loop time). The delay is rounded up, and an early wake-up re-arms for the remaining
 * time (at least 1 ms), so a deadline is never run before its time and the driver never spins.
 */
export class TimerDriver {
  /** Called after `queue.fire(now)` ran at least one timer, so the owner can flush the output it queued. */
  onFire?: () => void;

  private timer: NodeJS.Timeout | null = null;
  /** The queue deadline (µs) the Node timer was armed for; Infinity when no timer is armed. */
  private armedFor = Number.POSITIVE_INFINITY;
  private refed = true;
  private closed = false;
  /** While the queue is firing, timer callbacks may call arm(); one re-arm at the end suffices. */
  private firing = false;
  private readonly onTimeout = (): void => this.handleTimeout();

  constructor(
    private readonly queue: TimerQueue,
    private readonly clock: Clock,
  ) {}

  /** Re-arm the single Node timer to `queue.nextDeadline()` if needed. Cheap when nothing changed. */
  arm(): void {
    if (this.closed || this.firing) return;
    const deadline = this.queue.nextDeadline();
    if (deadline === Number.POSITIVE_INFINITY) {
      this.clear();
      return;
    }
    if (this.timer !== null && this.armedFor <= deadline) return;
    this.clear();
    const remainingUs = deadline - this.clock.now();
    // At least 1 ms: an overdue deadline still waits one tick rather than firing re-entrantly inside arm().
    const delayMs = Math.min(MAX_DELAY_MS, Math.max(1, Math.ceil(remainingUs / 1000)));
    const t = setTimeout(this.onTimeout, delayMs);
    if (!this.refed) t.unref();
    this.timer = t;
    this.armedFor = deadline;
  }

  /** The timer keeps the process alive (the default). */
  ref(): void {
    this.refed = true;
    this.timer?.ref();
  }

  /** The timer does not keep the process alive on its own. */
  unref(): void {
    this.refed = false;
    this.timer?.unref();
  }

  /** Clears the timer; later arm() calls do nothing. The queue itself is left to its owner. */
  close(): void {
    this.closed = true;
    this.clear();
  }

  /** Whether a Node timer is currently pending (for tests and diagnostics). */
  get armed(): boolean {
    return this.timer !== null;
  }

  private clear(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private handleTimeout(): void {
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    if (this.closed) return;
    this.firing = true;
    try {
      const ran = this.queue.fire(this.clock.now());
      if (ran > 0) this.onFire?.();
    } finally {
      // Re-arm even if a timer callback threw, so the rest of the queue is not stranded.
      this.firing = false;
      this.arm();
    }
  }
}
