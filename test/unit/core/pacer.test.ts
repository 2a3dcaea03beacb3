import { describe, expect, it } from 'vitest';
import { BURST_GRANULARITIES, MIN_BURST_PACKETS, PACING_GAIN, Pacer } from '../../../src/core/pacer.js';

const MS = 1000;
const PKT = 1400;
const T0 = 1_000_000;

/** How many `PKT` packets go at `now` if the sender takes all the pacer allows (and spends them). */
function drain(p: Pacer, limit = 1_000_000): number {
  let n = 0;
  while (n < limit && PKT <= p.tokens) {
    p.tokens -= PKT;
    n++;
  }
  return n;
}

describe('Pacer: when it is off', () => {
  it('is off before an RTT sample (SRTT 0): tokens are Infinity', () => {
    const p = new Pacer();
    p.refill(T0, 1 << 20, 0, PKT);
    expect(p.active).toBe(false);
    expect(p.tokens).toBe(Number.POSITIVE_INFINITY);
    expect(p.rateBytesPerSecond).toBe(0);
  });

  it('is off when the burst the timer granularity needs already covers the window (loopback)', () => {
    const p = new Pacer();
    // 4 MiB over a 100 µs RTT: 1.25 × 4 MiB per 100 µs; two 1 ms granularities hold 25 windows.
    p.refill(T0, 4 << 20, 100, PKT);
    expect(p.active).toBe(false);
    expect(p.tokens).toBe(Number.POSITIVE_INFINITY);
    // The boundary: capacity = gain × window × 2 ms / SRTT ≥ window ⇔ SRTT ≤ gain × 2 ms.
    const edge = PACING_GAIN * BURST_GRANULARITIES * MS;
    p.refill(T0, 1 << 20, edge, PKT);
    expect(p.active).toBe(false);
    p.refill(T0, 1 << 20, edge + 10, PKT);
    expect(p.active).toBe(true);
  });

  it('is off when the window is no more than the minimum burst', () => {
    const p = new Pacer();
    p.refill(T0, MIN_BURST_PACKETS * PKT, 100 * MS, PKT);
    expect(p.active).toBe(false);
    p.refill(T0, (MIN_BURST_PACKETS + 1) * PKT, 100 * MS, PKT);
    expect(p.active).toBe(true);
  });

  it('a coarser timer turns pacing off on longer paths', () => {
    const fine = new Pacer({ granularityUs: 1 * MS });
    const coarse = new Pacer({ granularityUs: 10 * MS });
    fine.refill(T0, 1 << 20, 10 * MS, PKT);
    coarse.refill(T0, 1 << 20, 10 * MS, PKT);
    expect(fine.active).toBe(true);
    expect(coarse.active).toBe(false);
  });
});

describe('Pacer: rate and burst', () => {
  it('paces at 1.25 × window / SRTT', () => {
    const p = new Pacer();
    p.refill(T0, 1_000_000, 100 * MS, PKT);
    expect(p.active).toBe(true);
    expect(p.rateBytesPerSecond).toBeCloseTo(PACING_GAIN * 10_000_000, 0);
    expect(PACING_GAIN).toBe(1.25);
    // Half the SRTT, twice the rate; half the window, half the rate.
    p.refill(T0, 1_000_000, 50 * MS, PKT);
    expect(p.rateBytesPerSecond).toBeCloseTo(25_000_000, 0);
    p.refill(T0, 500_000, 100 * MS, PKT);
    expect(p.rateBytesPerSecond).toBeCloseTo(6_250_000, 0);
  });

  it('off() stops pacing until a refill turns it on again, with a full bucket', () => {
    const p = new Pacer();
    p.refill(T0, 1000 * PKT, 100 * MS, PKT);
    drain(p);
    p.off();
    expect(p.active).toBe(false);
    expect(p.tokens).toBe(Number.POSITIVE_INFINITY);
    p.refill(T0 + MS, 1000 * PKT, 100 * MS, PKT);
    expect(drain(p)).toBe(25);
  });

  it('the burst allowance is two granularities of the rate, at least MIN_BURST_PACKETS packets', () => {
    const p = new Pacer();
    // 12.5 MB/s: 2 ms of it is 25,000 bytes (17.9 packets).
    p.refill(T0, 1_000_000, 100 * MS, PKT);
    expect(p.burstBytes).toBeCloseTo(25_000, 6);
    // 1.25 × 100 kB / 100 ms = 1.25 MB/s: 2 ms is 2,500 bytes, under the 4-packet floor.
    p.refill(T0, 100_000, 100 * MS, PKT);
    expect(p.burstBytes).toBe(MIN_BURST_PACKETS * PKT);
  });

  it('starts with a full bucket and then lets out the rate, not the window', () => {
    const p = new Pacer();
    // 1.4 MB window, 100 ms: 17.5 MB/s, 12.5 packets per ms; the allowance is 35,000 bytes (25 packets).
    p.refill(T0, 1000 * PKT, 100 * MS, PKT);
    expect(drain(p)).toBe(25);
    // Over one RTT in 1 ms steps the pacer lets out 1.25 windows, and never more than the rate plus one burst.
    let sent = 0;
    for (let t = 1; t <= 100; t++) {
      p.refill(T0 + t * MS, 1000 * PKT, 100 * MS, PKT);
      sent += drain(p);
    }
    expect(sent).toBeGreaterThanOrEqual(1249);
    expect(sent).toBeLessThanOrEqual(1251);
  });

  it('an idle spell refills the bucket only up to the burst allowance', () => {
    const p = new Pacer();
    p.refill(T0, 1000 * PKT, 100 * MS, PKT);
    drain(p);
    p.refill(T0 + 10_000 * MS, 1000 * PKT, 100 * MS, PKT);
    expect(drain(p)).toBe(25);
  });

  it('coming back on after being off starts with a full bucket, not the credit of the time it was off', () => {
    const p = new Pacer();
    p.refill(T0, 1000 * PKT, 100 * MS, PKT);
    drain(p);
    p.refill(T0 + MS, 1000 * PKT, 100, PKT); // a short RTT: off
    expect(p.tokens).toBe(Number.POSITIVE_INFINITY);
    p.refill(T0 + 2 * MS, 1000 * PKT, 100 * MS, PKT);
    expect(drain(p)).toBe(25);
  });

  it('bytes spent beyond the tokens (sent regardless, e.g. retransmissions) are paid back before new ones go', () => {
    const p = new Pacer();
    p.refill(T0, 1000 * PKT, 100 * MS, PKT);
    p.tokens -= 50 * PKT; // 25 packets of debt after the full bucket
    p.refill(T0 + MS, 1000 * PKT, 100 * MS, PKT); // 12.5 packets of credit
    expect(drain(p)).toBe(0);
    p.refill(T0 + 3 * MS, 1000 * PKT, 100 * MS, PKT); // 37.5 in all: 12.5 over the debt
    expect(drain(p)).toBe(12);
  });
});

describe('Pacer.nextSendAt', () => {
  it('is when the bucket holds the bytes, but never sooner than one timer granularity', () => {
    const p = new Pacer();
    // 1.25 × 100 packets / 100 ms: 1.25 packets (1.75 bytes per µs) per ms, so a packet's tokens take 800 µs.
    p.refill(T0, 100 * PKT, 100 * MS, PKT);
    drain(p);
    expect(p.tokens).toBeLessThan(PKT);
    expect(p.nextSendAt(T0, PKT)).toBe(T0 + MS);
    // Three packets' worth from empty (within the 4-packet allowance): 2.4 ms.
    const missing = 3 * PKT - p.tokens;
    const at = p.nextSendAt(T0, 3 * PKT);
    expect(at - T0).toBe(Math.ceil(missing / 1.75));
    expect(at - T0).toBeGreaterThan(1.6 * MS);
    // At that time, the refill holds them.
    p.refill(at, 100 * PKT, 100 * MS, PKT);
    expect(drain(p)).toBe(3);
  });

  it('is now when the bytes are there or pacing is off', () => {
    const p = new Pacer();
    p.refill(T0, 100 * PKT, 100 * MS, PKT);
    expect(p.nextSendAt(T0, PKT)).toBe(T0);
    const off = new Pacer();
    off.refill(T0, 100 * PKT, 0, PKT);
    expect(off.nextSendAt(T0, 10 * PKT)).toBe(T0);
  });
});
