import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { TimerQueue } from '../../../src/core/timer-queue.js';
import type { Clock } from '../../../src/io/clock.js';
import { TimerDriver } from '../../../src/io/timer-driver.js';

/**
 * Node's timers are faked; the driver's clock reads the fake Date in µs. `lagUs` makes the clock read
 * behind the timer wheel, which is how a real Node timer looks when it fires "early" (libuv measures
 * from a cached loop time).
 */
let lagUs = 0;
const clock: Clock = { now: () => Date.now() * 1000 - lagUs };
let setTimeoutSpy: MockInstance<typeof setTimeout>;

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
  lagUs = 0;
  setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

function setup() {
  const q = new TimerQueue();
  const d = new TimerDriver(q, clock);
  const onFire = vi.fn();
  d.onFire = onFire;
  return { q, d, onFire };
}

describe('TimerDriver', () => {
  it('runs a deadline when due and not before, then calls onFire', () => {
    const { q, d, onFire } = setup();
    const ran: number[] = [];
    q.schedule(5_000, () => ran.push(clock.now()));
    d.arm();
    vi.advanceTimersByTime(4);
    expect(ran).toEqual([]);
    expect(onFire).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(ran).toEqual([5_000]);
    expect(onFire).toHaveBeenCalledTimes(1);
    expect(d.armed).toBe(false);
  });

  it('rounds a sub-millisecond deadline up, never down', () => {
    const { q, d } = setup();
    const ran: number[] = [];
    q.schedule(2_001, () => ran.push(clock.now()));
    d.arm();
    expect(setTimeoutSpy).toHaveBeenLastCalledWith(expect.any(Function), 3);
    vi.advanceTimersByTime(2);
    expect(ran).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ran).toEqual([3_000]);
  });

  it('does not re-create the Node timer when the deadline is unchanged', () => {
    const { q, d } = setup();
    q.schedule(10_000, () => {});
    d.arm();
    d.arm();
    d.arm();
    expect(setTimeoutSpy).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(1);
  });

  it('keeps an earlier timer when the deadline moves later, fires early without running anything, re-arms', () => {
    const { q, d, onFire } = setup();
    const early = q.schedule(10_000, () => {});
    d.arm();
    q.cancel(early);
    const ran: number[] = [];
    q.schedule(30_000, () => ran.push(clock.now()));
    d.arm();
    expect(setTimeoutSpy).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(10);
    expect(ran).toEqual([]);
    expect(onFire).not.toHaveBeenCalled();
    expect(setTimeoutSpy).toHaveBeenCalledTimes(2);
    expect(setTimeoutSpy).toHaveBeenLastCalledWith(expect.any(Function), 20);
    vi.advanceTimersByTime(20);
    expect(ran).toEqual([30_000]);
    expect(onFire).toHaveBeenCalledTimes(1);
  });

  it('re-arms earlier when a sooner deadline appears', () => {
    const { q, d } = setup();
    const ran: string[] = [];
    q.schedule(50_000, () => ran.push('late'));
    d.arm();
    q.schedule(7_000, () => ran.push('soon'));
    d.arm();
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(7);
    expect(ran).toEqual(['soon']);
    vi.advanceTimersByTime(43);
    expect(ran).toEqual(['soon', 'late']);
  });

  it('clears the Node timer when the queue empties', () => {
    const { q, d } = setup();
    const t = q.schedule(10_000, () => {});
    d.arm();
    expect(vi.getTimerCount()).toBe(1);
    q.cancel(t);
    d.arm();
    expect(vi.getTimerCount()).toBe(0);
    expect(d.armed).toBe(false);
  });

  it('re-arms for the remainder when Node wakes it early, without running the timer early or spinning', () => {
    const { q, d } = setup();
    const ran: number[] = [];
    q.schedule(5_000, () => ran.push(clock.now()));
    d.arm(); // 5 ms
    lagUs = 700; // at wake-up the clock reads 0.7 ms behind the timer wheel: an early wake-up
    vi.advanceTimersByTime(5);
    expect(ran).toEqual([]);
    expect(setTimeoutSpy).toHaveBeenCalledTimes(2);
    expect(setTimeoutSpy).toHaveBeenLastCalledWith(expect.any(Function), 1); // ceil(0.7 ms), not 0
    vi.advanceTimersByTime(1);
    expect(ran).toEqual([5_300]);

    // A clock far behind the wheel: each wake-up finds the deadline not yet due and re-arms ≥ 1 ms later.
    setTimeoutSpy.mockClear();
    lagUs = 0;
    q.schedule(20_000, () => ran.push(clock.now()));
    d.arm();
    lagUs = 2_500;
    vi.advanceTimersByTime(30);
    expect(ran).toEqual([5_300, 20_500]);
    expect(setTimeoutSpy.mock.calls.map((c) => c[1])).toEqual([14, 3]);
  });

  it('waits at least 1 ms for an overdue deadline instead of firing inside arm()', () => {
    const { q, d } = setup();
    vi.advanceTimersByTime(100);
    const ran: number[] = [];
    q.schedule(50_000, () => ran.push(clock.now()));
    d.arm();
    expect(ran).toEqual([]);
    expect(setTimeoutSpy).toHaveBeenLastCalledWith(expect.any(Function), 1);
    vi.advanceTimersByTime(1);
    expect(ran).toEqual([101_000]);
  });

  it('runs timers scheduled while firing and re-arms for the ones left', () => {
    const { q, d, onFire } = setup();
    const ran: string[] = [];
    q.schedule(1_000, () => {
      ran.push('a');
      q.schedule(1_000, () => ran.push('a-now')); // due already: runs in the same fire
      q.schedule(4_000, () => ran.push('b'));
      d.arm(); // re-entrant arm from a callback is harmless
    });
    d.arm();
    vi.advanceTimersByTime(1);
    expect(ran).toEqual(['a', 'a-now']);
    expect(d.armed).toBe(true);
    vi.advanceTimersByTime(3);
    expect(ran).toEqual(['a', 'a-now', 'b']);
    expect(onFire).toHaveBeenCalledTimes(2);
  });

  it('still re-arms when a timer callback throws', () => {
    const { q, d } = setup();
    const ran: string[] = [];
    q.schedule(1_000, () => {
      throw new Error('boom');
    });
    q.schedule(3_000, () => ran.push('later'));
    d.arm();
    expect(() => vi.advanceTimersByTime(1)).toThrow('boom');
    expect(d.armed).toBe(true);
    vi.advanceTimersByTime(2);
    expect(ran).toEqual(['later']);
  });

  it('clamps deadlines beyond the Node timer limit (no overflow to 1 ms)', () => {
    const { q, d } = setup();
    q.schedule(2 ** 40 * 1000, () => {});
    d.arm();
    expect(setTimeoutSpy).toHaveBeenLastCalledWith(expect.any(Function), 0x7fffffff);
  });

  it('close() clears the timer and later arm() is a no-op', () => {
    const { q, d, onFire } = setup();
    q.schedule(1_000, () => {});
    d.arm();
    d.close();
    expect(vi.getTimerCount()).toBe(0);
    q.schedule(500, () => {});
    d.arm();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10);
    expect(onFire).not.toHaveBeenCalled();
  });

  it('unref() applies to the armed timer and to timers armed later; ref() undoes it', () => {
    const { q, d } = setup();
    q.schedule(10_000, () => {});
    d.arm();
    const first = setTimeoutSpy.mock.results[0]?.value as NodeJS.Timeout;
    expect(first.hasRef()).toBe(true);
    d.unref();
    expect(first.hasRef()).toBe(false);
    q.schedule(1_000, () => {});
    d.arm();
    const second = setTimeoutSpy.mock.results[1]?.value as NodeJS.Timeout;
    expect(second.hasRef()).toBe(false);
    d.ref();
    expect(second.hasRef()).toBe(true);
  });

  it('property: every timer runs at or after its deadline, within 1 ms + lag, with a bounded number of Node timers', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            delayUs: fc.integer({ min: 0, max: 50_000 }),
            cancel: fc.boolean(),
            advanceUs: fc.integer({ min: 0, max: 8_000 }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        fc.integer({ min: 0, max: 999 }),
        (ops, lag) => {
          vi.clearAllTimers();
          setTimeoutSpy.mockClear();
          lagUs = lag;
          const { q, d } = setup();
          const late: number[] = [];
          let expected = 0;
          let ran = 0;
          for (const op of ops) {
            const at = clock.now() + op.delayUs;
            const h = q.schedule(at, () => {
              const now = clock.now();
              if (now < at) throw new Error(`ran ${at - now} µs early`);
              late.push(now - at);
              ran++;
            });
            if (op.cancel) q.cancel(h);
            else expected++;
            d.arm();
            vi.advanceTimersByTime(op.advanceUs / 1000);
          }
          vi.advanceTimersByTime(60);
          d.close();
          expect(ran).toBe(expected);
          // Each wake-up is due to the round-up (≤ 1 ms) plus the clock lag; firing is in deadline order.
          for (const l of late) expect(l).toBeLessThanOrEqual(2_000 + lag);
          // One Node timer per arm() that moved the deadline earlier, plus re-arms after wake-ups.
          expect(setTimeoutSpy.mock.calls.length).toBeLessThanOrEqual(3 * ops.length + 2);
        },
      ),
      { seed: 0x5eed, numRuns: 200 },
    );
  });
});
