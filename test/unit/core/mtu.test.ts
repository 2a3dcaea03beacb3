import { describe, expect, it } from 'vitest';
import { MtuSearch } from '../../../src/core/mtu.js';

/** Run the search against a path that passes datagrams up to `pathMtu`. */
function converge(pathMtu: number, floor = 548, ceiling = 1472): { search: MtuSearch; probes: number } {
  const s = new MtuSearch({ floor, ceiling });
  let now = 0;
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
  return { search: s, probes };
}

describe('MtuSearch', () => {
  it('converges to within 16 bytes below the path MTU and never above it', () => {
    for (const path of [548, 576, 900, 1200, 1280, 1400, 1472]) {
      const { search, probes } = converge(path);
      expect(search.current).toBeLessThanOrEqual(path);
      expect(path - search.current).toBeLessThanOrEqual(16);
      expect(probes).toBeLessThanOrEqual(7);
      expect(search.searching).toBe(false);
    }
  });

  it('starts at the floor: a packet is never built bigger than what is known to pass', () => {
    const s = new MtuSearch({ floor: 548, ceiling: 1472 });
    expect(s.current).toBe(548);
    const probe = s.nextProbe(0);
    expect(probe).toBeGreaterThan(548);
    s.onProbeSent(1, probe);
    expect(s.current).toBe(548);
    expect(s.nextProbe(0)).toBe(0); // one probe at a time
  });

  it('searches again after 30 minutes (the path may have changed)', () => {
    const { search } = converge(1200);
    expect(search.nextProbe(29 * 60 * 1e6)).toBe(0);
    expect(search.nextProbe(31 * 60 * 1e6 + 64_000)).toBeGreaterThan(search.current);
  });

  it('handles large loopback ceilings', () => {
    const { search } = converge(65_000, 548, 65_507);
    expect(search.current).toBeGreaterThan(64_900);
  });
});
