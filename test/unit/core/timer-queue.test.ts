import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TimerQueue } from '../../../src/core/timer-queue.js';

describe('TimerQueue', () => {
  it('fires due timers in deadline order, ties first-scheduled first, skipping cancelled ones', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.boolean()), { maxLength: 200 }), (spec) => {
        const q = new TimerQueue();
        const fired: number[] = [];
        const handles = spec.map(([at], i) => q.schedule(at, () => fired.push(i)));
        spec.forEach(([, cancel], i) => {
          if (cancel) q.cancel(handles[i]);
        });
        const expected = spec
          .map(([at, cancel], i) => ({ at, cancel, i }))
          .filter((x) => !x.cancel)
          .sort((a, b) => a.at - b.at || a.i - b.i)
          .map((x) => x.i);
        expect(q.size).toBe(expected.length);
        q.fire(25);
        q.fire(50);
        expect(fired).toEqual(expected);
        expect(q.size).toBe(0);
        expect(q.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
      }),
      { seed: 0x7173, numRuns: 200 },
    );
  });

  it('runs timers scheduled while firing when they are already due', () => {
    const q = new TimerQueue();
    const log: string[] = [];
    q.schedule(10, () => {
      log.push('a');
      q.schedule(5, () => log.push('b'));
      q.schedule(30, () => log.push('c'));
    });
    expect(q.fire(20)).toBe(2);
    expect(log).toEqual(['a', 'b']);
    expect(q.nextDeadline()).toBe(30);
  });
});
