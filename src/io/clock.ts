/**
 * The one place the library reads real time. Everything below src/io takes `now` (µs) as a
 * parameter; the IO layer reads it here and passes it down.
 */

/**
 * Integer microseconds from a monotonic source. `performance.now()` is a monotonic double in ms
 * with µs-or-better resolution and costs no allocation (unlike `process.hrtime.bigint()`); its
 * origin is process start, so values stay far below 2^53 for any realistic uptime.
 */
export function monotonicUs(): number {
  return Math.floor(performance.now() * 1000);
}

/** A source of µs timestamps; tests substitute a fake whose time they move by hand. */
export interface Clock {
  now(): number;
}

export const realClock: Clock = { now: monotonicUs };
