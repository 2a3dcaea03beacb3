import { describe, expect, it } from 'vitest';
import { DEFAULT_INITIAL_RTO_US, DEFAULT_MAX_RTO_US, DEFAULT_MIN_RTO_US, RttEstimator } from '../../../src/core/rtt.js';

const MS = 1000;

describe('RttEstimator before any sample', () => {
  it('uses libutp initial RTO of 3 s and reports no estimate', () => {
    const r = new RttEstimator();
    expect(DEFAULT_INITIAL_RTO_US).toBe(3_000_000);
    expect(r.rtoUs).toBe(3_000_000);
    expect(r.hasSample).toBe(false);
    expect(r.srttUs).toBe(0);
    expect(r.minRttUs).toBe(Number.POSITIVE_INFINITY);
    expect(r.backoffCount).toBe(0);
  });

  it('clamps the initial RTO into [min, max]', () => {
    expect(new RttEstimator({ initialRtoUs: 10 * MS }).rtoUs).toBe(DEFAULT_MIN_RTO_US);
    expect(new RttEstimator({ initialRtoUs: 90_000 * MS }).rtoUs).toBe(DEFAULT_MAX_RTO_US);
    expect(new RttEstimator({ initialRtoUs: 500 * MS, minRtoUs: 200 * MS }).rtoUs).toBe(500 * MS);
  });
});

describe('RttEstimator RFC 6298 arithmetic (minRtoUs: 0 so the formula shows)', () => {
  it('first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4·RTTVAR', () => {
    const r = new RttEstimator({ minRtoUs: 0 });
    r.onSample(100 * MS);
    expect(r.hasSample).toBe(true);
    expect(r.srttUs).toBe(100_000);
    expect(r.rttvarUs).toBe(50_000);
    expect(r.rtoUs).toBe(300_000);
  });

  it('follows a hand-computed sequence 100, 200, 50 ms', () => {
    const r = new RttEstimator({ minRtoUs: 0 });
    r.onSample(100 * MS);
    // RTTVAR = 3/4·50000 + 1/4·|100000 − 200000| = 62500; SRTT = 7/8·100000 + 1/8·200000 = 112500
    r.onSample(200 * MS);
    expect(r.rttvarUs).toBe(62_500);
    expect(r.srttUs).toBe(112_500);
    expect(r.rtoUs).toBe(112_500 + 250_000);
    // RTTVAR = 3/4·62500 + 1/4·|112500 − 50000| = 62500; SRTT = 7/8·112500 + 1/8·50000 = 104687.5
    r.onSample(50 * MS);
    expect(r.rttvarUs).toBe(62_500);
    expect(r.srttUs).toBe(104_687.5);
    expect(r.rtoUs).toBe(104_687.5 + 250_000);
    expect(r.stats()).toEqual({ srttUs: 104_687.5, rttvarUs: 62_500, rtoUs: 354_687.5, minRttUs: 50_000 });
  });

  it('RTTVAR uses the old SRTT (order of the two updates matters)', () => {
    const r = new RttEstimator({ minRtoUs: 0 });
    r.onSample(80 * MS);
    r.onSample(40 * MS);
    // With the old SRTT (80000): 3/4·40000 + 1/4·40000 = 40000. With the new one (75000) it would be 38750.
    expect(r.rttvarUs).toBe(40_000);
    expect(r.srttUs).toBe(75_000);
  });

  it('a steady RTT shrinks RTTVAR until the clock granularity G takes over', () => {
    const r = new RttEstimator({ minRtoUs: 0 });
    for (let i = 0; i < 100; i++) r.onSample(100 * MS);
    expect(r.srttUs).toBe(100_000);
    expect(r.rttvarUs).toBeLessThan(1);
    expect(r.rtoUs).toBe(100_000 + 1_000);
    const coarse = new RttEstimator({ minRtoUs: 0, clockGranularityUs: 10 * MS });
    for (let i = 0; i < 100; i++) coarse.onSample(100 * MS);
    expect(coarse.rtoUs).toBe(110_000);
  });
});

describe('RttEstimator bounds', () => {
  it('applies a 50 ms minimum RTO by default (uTP peers do not delay acks; see DEFAULT_MIN_RTO_US)', () => {
    const r = new RttEstimator();
    r.onSample(5 * MS);
    expect(r.rtoUs).toBe(50_000);
    r.onSample(200 * MS);
    expect(r.rtoUs).toBe(r.srttUs + 4 * r.rttvarUs);
    expect(r.rtoUs).toBeGreaterThan(50_000);
  });

  it('respects minRtoUs and maxRtoUs options', () => {
    const r = new RttEstimator({ minRtoUs: 200 * MS, maxRtoUs: 2_000 * MS });
    r.onSample(10 * MS);
    expect(r.rtoUs).toBe(200 * MS);
    r.onSample(5_000 * MS);
    expect(r.rtoUs).toBe(2_000 * MS);
  });

  it('ignores negative and non-finite samples', () => {
    const r = new RttEstimator({ minRtoUs: 0 });
    r.onSample(-5);
    r.onSample(Number.NaN);
    r.onSample(Number.POSITIVE_INFINITY);
    expect(r.hasSample).toBe(false);
    r.onSample(0);
    expect(r.hasSample).toBe(true);
    expect(r.minRttUs).toBe(0);
  });
});

describe('RttEstimator back-off', () => {
  it('doubles on each timeout and stops at maxRtoUs (libutp has no cap)', () => {
    const r = new RttEstimator();
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) {
      r.backoff();
      seen.push(r.rtoUs / 1e6);
    }
    expect(seen).toEqual([6, 12, 24, 48, 60, 60, 60, 60]);
    expect(r.backoffCount).toBe(8);
  });

  it('stays finite and capped after very many timeouts', () => {
    const r = new RttEstimator({ maxRtoUs: 10_000 * MS });
    r.onSample(300 * MS);
    for (let i = 0; i < 5000; i++) r.backoff();
    expect(r.rtoUs).toBe(10_000 * MS);
    expect(Number.isFinite(r.rtoUs)).toBe(true);
  });

  it('a new sample clears the back-off and recomputes from the estimate', () => {
    const r = new RttEstimator({ minRtoUs: 0 });
    r.onSample(100 * MS);
    r.backoff();
    r.backoff();
    expect(r.rtoUs).toBe(1_200_000);
    expect(r.backoffCount).toBe(2);
    r.onSample(100 * MS);
    // RTTVAR = 3/4·50000 = 37500, SRTT = 100000 → RTO = 250000
    expect(r.backoffCount).toBe(0);
    expect(r.rtoUs).toBe(250_000);
  });

  it('resetBackoff returns to the estimate without changing it', () => {
    const r = new RttEstimator({ minRtoUs: 0 });
    r.onSample(100 * MS);
    r.backoff();
    r.resetBackoff();
    expect(r.rtoUs).toBe(300_000);
    expect(r.srttUs).toBe(100_000);
    expect(r.backoffCount).toBe(0);
  });

  it('a zero RTO still backs off (granularity floor)', () => {
    const r = new RttEstimator({ minRtoUs: 0, initialRtoUs: 0 });
    expect(r.rtoUs).toBe(0);
    r.backoff();
    expect(r.rtoUs).toBe(1_000);
    r.backoff();
    expect(r.rtoUs).toBe(2_000);
  });
});

describe('RttEstimator minRtt', () => {
  it('tracks the smallest sample ever seen', () => {
    const r = new RttEstimator();
    for (const s of [120, 80, 95, 300, 81]) r.onSample(s * MS);
    expect(r.minRttUs).toBe(80 * MS);
    expect(r.stats().minRttUs).toBe(80 * MS);
  });
});
