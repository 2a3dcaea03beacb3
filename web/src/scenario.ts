/**
 * What the controls set: the simulated path between the two endpoints and what they send.
 * Units are the ones a person types (ms, %, Mbit/s, packets, KiB); `linkOptions` converts them
 * to the simulator's (µs, probabilities, bit/s, bytes).
 */
import type { LinkOptions } from './engine.js';

export interface Scenario {
  seed: number;
  /** Bytes endpoint A sends to B. */
  bytesAtoB: number;
  /** Bytes endpoint B sends back to A (0: B only acks). */
  bytesBtoA: number;
  /** One-way propagation delay, each direction. */
  delayMs: number;
  jitterMs: number;
  lossPct: number;
  duplicatePct: number;
  reorderPct: number;
  bandwidthMbps: number;
  /** Drop-tail queue in front of the bottleneck, in full-size (1500-byte) packets. */
  queuePackets: number;
  /** A loss-based (NewReno) bulk flow from A's host to B's host through the same bottleneck. */
  reno: boolean;
}

/** Shows a loss, a SACK-driven fast retransmit, LEDBAT's queue and the FIN exchange in ~2 s of simulated time. */
export const DEFAULT_SCENARIO: Readonly<Scenario> = {
  seed: 1,
  bytesAtoB: 1 << 20,
  bytesBtoA: 0,
  delayMs: 20,
  jitterMs: 0,
  lossPct: 2,
  duplicatePct: 0,
  reorderPct: 0,
  bandwidthMbps: 10,
  queuePackets: 100,
  reno: false,
};

/** A queue slot: an Ethernet frame's worth of bytes. */
export const QUEUE_SLOT_BYTES = 1500;

export function linkOptions(s: Scenario): LinkOptions {
  return {
    delayUs: Math.round(s.delayMs * 1000),
    jitterUs: Math.round(s.jitterMs * 1000),
    loss: s.lossPct / 100,
    duplicate: s.duplicatePct / 100,
    reorder: s.reorderPct / 100,
    bandwidthBps: s.bandwidthMbps * 1e6,
    queueBytes: s.queuePackets * QUEUE_SLOT_BYTES,
  };
}

/** Clamps every field into a range the simulator accepts, so a typo cannot throw mid-run. */
export function sanitize(s: Scenario): Scenario {
  const num = (v: number, lo: number, hi: number, fallback: number) =>
    Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : fallback;
  const d = DEFAULT_SCENARIO;
  return {
    seed: Math.trunc(num(s.seed, 0, 2 ** 31 - 1, d.seed)),
    bytesAtoB: Math.trunc(num(s.bytesAtoB, 0, 64 << 20, d.bytesAtoB)),
    bytesBtoA: Math.trunc(num(s.bytesBtoA, 0, 64 << 20, d.bytesBtoA)),
    delayMs: num(s.delayMs, 0, 2000, d.delayMs),
    jitterMs: num(s.jitterMs, 0, 2000, d.jitterMs),
    lossPct: num(s.lossPct, 0, 100, d.lossPct),
    duplicatePct: num(s.duplicatePct, 0, 100, d.duplicatePct),
    reorderPct: num(s.reorderPct, 0, 100, d.reorderPct),
    bandwidthMbps: num(s.bandwidthMbps, 0.01, 10_000, d.bandwidthMbps),
    queuePackets: Math.trunc(num(s.queuePackets, 1, 100_000, d.queuePackets)),
    reno: Boolean(s.reno),
  };
}
