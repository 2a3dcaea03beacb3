import { describe, expect, it } from 'vitest';
import { MAX_PROBES, MTU_BASE_IPV4, MtuSearch, RAISE_INTERVAL_US } from '../../../src/core/mtu.js';

/** Run the search against a path that passes datagrams up to `pathMtu`; each lost probe is retried as DPLPMTUD does. */
function converge(
  pathMtu: number,
  opts: { floor?: number; base?: number; ceiling?: number; search?: MtuSearch; now?: number } = {},
): { search: MtuSearch; probes: number; now: number } {
  const s = opts.search ?? new MtuSearch({ floor: opts.floor ?? 548, ceiling: opts.ceiling ?? 1472, base: opts.base });
  let now = opts.now ?? 0;
  let probes = 0;
  let seq = 0;
  for (let size = s.nextProbe(now); size > 0; size = s.nextProbe(now)) {
    s.onProbeSent(seq++, size);
    probes++;
    if (size <= pathMtu) s.onProbeAcked(now);
    else s.onProbeLost(now);
    now += 1000;
    if (probes > 64) throw new Error('search does not end');
  }
  return { search: s, probes, now };
}

describe('MtuSearch (DPLPMTUD, RFC 8899)', () => {
  it('starts at the base size (1,172 for IPv4), not the floor', () => {
    const s = new MtuSearch({ floor: 548, ceiling: 1472 });
    expect(s.current).toBe(MTU_BASE_IPV4);
    expect(s.state).toBe('base');
    const probe = s.nextProbe(0);
    expect(probe).toBeGreaterThan(MTU_BASE_IPV4);
    s.onProbeSent(1, probe);
    expect(s.current).toBe(MTU_BASE_IPV4); // not before the probe is acked
    expect(s.nextProbe(0)).toBe(0); // one probe at a time
  });

  it('converges to within 16 bytes below the path MTU and never above it', () => {
    for (const path of [1200, 1280, 1400, 1472]) {
      const { search, probes } = converge(path);
      expect(search.current).toBeLessThanOrEqual(path);
      expect(path - search.current).toBeLessThanOrEqual(16);
      // A size counts as too big after MAX_PROBES lost probes of it.
      expect(probes).toBeLessThanOrEqual(5 * MAX_PROBES);
      expect(search.searching).toBe(false);
      expect(search.state).toBe('complete');
    }
  });

  it('one lost probe is not enough: the same size is tried MAX_PROBES times', () => {
    const s = new MtuSearch({ floor: 548, ceiling: 1472 });
    const size = s.nextProbe(0);
    for (let i = 0; i < MAX_PROBES - 1; i++) {
      s.onProbeSent(i, size);
      s.onProbeLost(0);
      expect(s.ceiling).toBe(1472);
      expect(s.nextProbe(0)).toBe(size);
    }
    s.onProbeSent(9, size);
    s.onProbeLost(0);
    expect(s.ceiling).toBe(size - 1);
  });

  it('searches again after the raise timer (600 s): a path whose MTU rose is used', () => {
    const { search, now } = converge(1200);
    expect(search.current).toBeLessThanOrEqual(1200);
    expect(search.nextProbe(now + RAISE_INTERVAL_US / 2)).toBe(0);
    const later = converge(1472, { search, now: now + RAISE_INTERVAL_US + 1 });
    expect(later.search.current).toBeGreaterThan(1450);
  });

  it('a black hole drops the size to the base and searches again below the size that failed', () => {
    const { search, now } = converge(1472);
    expect(search.current).toBeGreaterThan(1450);
    expect(search.onBlackHole(now)).toBe(true);
    expect(search.current).toBe(MTU_BASE_IPV4);
    const after = converge(1300, { search, now });
    expect(after.search.current).toBeLessThanOrEqual(1300);
    expect(1300 - after.search.current).toBeLessThanOrEqual(16);
  });

  it('a black hole at the base itself falls to the floor (the error state) and searches from there', () => {
    const s = new MtuSearch({ floor: 548, ceiling: 1472 });
    expect(s.onBlackHole(0)).toBe(true);
    expect(s.current).toBe(548);
    expect(s.state).toBe('error');
    const after = converge(1000, { search: s });
    expect(after.search.current).toBeLessThanOrEqual(1000);
    expect(after.search.current).toBeGreaterThan(980);
    expect(s.onBlackHole(0)).toBe(true);
    expect(s.onBlackHole(0)).toBe(false); // nothing below the floor
  });

  it('handles large loopback ceilings, raised after the handshake', () => {
    const s = new MtuSearch({ floor: 548, ceiling: 1472 });
    s.raiseCeiling(65_507);
    const { search } = converge(65_000, { search: s });
    expect(search.current).toBeGreaterThan(64_900);
  });
});
