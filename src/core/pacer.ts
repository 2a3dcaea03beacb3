/**
 * Pacing: new data leaves at a rate of 1.25 × window / SRTT instead of a whole window at once.
 *
 * Without it, whatever opens the window — an ack covering many packets, the first window after the
 * handshake, a window left open by an idle spell — sends a burst at the sender's own speed, and a
 * small buffer on the way overflows: a router's queue, or the kernel's 208 KiB receive buffer a
 * libutp peer keeps. A token bucket (Linux's fq and QUIC senders do the same, RFC 9002 §7.7): tokens
 * are payload bytes, they refill at the pacing rate up to a burst allowance, and a packet of new
 * data goes only when the bucket holds its bytes.
 *
 * The burst allowance is at least a few packets and at least what the rate sends in two timer
 * granularities: the IO driver's timers have 1 ms resolution (and fire late more often than not),
 * so a smaller bucket would lose rate to every late wake-up. When that allowance already covers the
 * whole window, pacing cannot change anything the window does not already limit, and it is off:
 * tokens are Infinity. That is the case whenever SRTT is at most gain × 2 ms (2.5 ms) — loopback's
 * RTT is µs until a queue builds in the socket buffers — so such paths pay nothing and behave exactly
 * as without pacing. It is off as well until the first RTT sample.
 *
 * The sender reads `tokens` and subtracts what it sends; a number compared per packet, so the data
 * path stays one comparison when pacing is off. Sans-IO: time comes in as `now` (µs).
 */
import { DEFAULT_CLOCK_GRANULARITY_US } from './rtt.js';

/**
 * A little above the window's rate, so that the window still fills within the RTT (RFC 9002 §7.7's
 * N = 1.25; Linux tcp_pacing_ca_ratio is 120 %). The connection does not pace slow start (Linux
 * does, at 200 %): see docs/design.md for what that did to LEDBAT.
 */
export const PACING_GAIN = 1.25;
/** The smallest burst allowance, in packets ("a few": Linux fq's initial quantum is 10, its quantum 2). */
export const MIN_BURST_PACKETS = 4;
/** The burst allowance covers this many timer granularities (quinn's BURST_INTERVAL is 2 ms). */
export const BURST_GRANULARITIES = 2;

export interface PacerOptions {
  /** The timer resolution of the driver that wakes the sender, µs; default 1 ms (Node's timers). */
  granularityUs?: number;
  /** The burst allowance's floor in packets; default MIN_BURST_PACKETS. */
  minBurstPackets?: number;
}

export class Pacer {
  /**
   * Bytes of new data that may go now; Infinity while pacing is off. Valid after `refill`; the
   * sender subtracts what it sends (it may go negative by a packet that was sent regardless).
   */
  tokens = Number.POSITIVE_INFINITY;
  private readonly granularityUs: number;
  private readonly minBurstPackets: number;
  /** Bytes per µs; 0 while pacing is off. */
  private rate = 0;
  private capacity = Number.POSITIVE_INFINITY;
  private refilledAt = 0;

  constructor(opts: PacerOptions = {}) {
    this.granularityUs = opts.granularityUs ?? DEFAULT_CLOCK_GRANULARITY_US;
    this.minBurstPackets = opts.minBurstPackets ?? MIN_BURST_PACKETS;
  }

  /** Whether the last `refill` found pacing worth doing. */
  get active(): boolean {
    return this.rate > 0;
  }

  /** Bytes per second at the last `refill` (0: off). */
  get rateBytesPerSecond(): number {
    return this.rate * 1e6;
  }

  /** The burst allowance at the last `refill` (Infinity: off). */
  get burstBytes(): number {
    return this.capacity;
  }

  /**
   * Bring the bucket up to `now` for the current window (bytes that may be in flight), SRTT (0:
   * none yet) and packet payload size. Call once before sending a batch.
   */
  refill(now: number, windowBytes: number, srttUs: number, packetBytes: number): void {
    const rate = srttUs > 0 ? (PACING_GAIN * windowBytes) / srttUs : 0;
    const capacity = Math.max(this.minBurstPackets * packetBytes, rate * BURST_GRANULARITIES * this.granularityUs);
    const elapsed = now - this.refilledAt;
    this.refilledAt = now;
    if (rate === 0 || capacity >= windowBytes) {
      this.off();
      return;
    }
    // Coming on (a first sample, a window grown past the allowance) starts with a full bucket.
    const tokens = this.rate === 0 ? capacity : this.tokens + elapsed * rate;
    this.rate = rate;
    this.capacity = capacity;
    this.tokens = Math.min(tokens, capacity);
  }

  /** No pacing until the next `refill` says otherwise (which then starts with a full bucket). */
  off(): void {
    this.rate = 0;
    this.capacity = Number.POSITIVE_INFINITY;
    this.tokens = Number.POSITIVE_INFINITY;
  }

  /**
   * When `bytes` more may go, given the tokens now (call after `refill`, when `tokens < bytes`;
   * `bytes` no more than the burst allowance, which a packet never exceeds). At least a timer
   * granularity away: a real timer cannot wake sooner, and each wake-up then sends a granularity's
   * worth, not one packet.
   */
  nextSendAt(now: number, bytes: number): number {
    if (this.rate === 0 || this.tokens >= bytes) return now;
    const wait = Math.ceil((bytes - this.tokens) / this.rate);
    return now + Math.max(wait, this.granularityUs);
  }
}
