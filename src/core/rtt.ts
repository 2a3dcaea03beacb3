/**
 * Round-trip time and retransmission timeout (RFC 6298, with libutp's bounds).
 *
 * Units are µs throughout. The estimator is fed one sample per acknowledged packet and never reads a
 * clock; the connection arms its RTO timer to `now + rtoUs`.
 *
 * Karn's rule is the caller's job: only feed samples from packets that were transmitted exactly once
 * (libutp: `pkt->transmissions == 1`), because an ack for a retransmitted packet cannot say which
 * transmission it answers.
 */

/** libutp `conn->rto = 3000` (ms): the RTO before any sample (RFC 6298 §2.1 says 1 s; libutp keeps RFC 2988's 3 s). */
export const DEFAULT_INITIAL_RTO_US = 3_000_000;
/**
 * The RTO's floor. libutp uses `max(rtt + rtt_var * 4, 1000)` ms (RFC 6298 §2.4's one second),
 * Linux TCP 200 ms (sized for delayed acks), QUIC none beyond the peer's max_ack_delay (25 ms by
 * default). uTP receivers do not delay acks: libutp acks at the end of each read batch, utpx at
 * the end of each event-loop turn. So the floor only has to cover a peer's turn that runs late — a
 * Node GC pause, a busy loop, a descheduled process on a loaded host — not an ack timer: 50 ms, twice
 * QUIC's default max_ack_delay. On a path with real jitter the estimate (SRTT + 4·RTTVAR) is above
 * it anyway. A spurious timeout on a short path costs a slow start that takes a few RTTs of that
 * path; and the connection core counts only timeouts of 1 s and more towards giving up, so a
 * silent peer is kept as long as with libutp.
 */
export const DEFAULT_MIN_RTO_US = 50_000;
/** libtorrent `packet_timeout()` caps at 60 s; libutp doubles without a cap (RFC 6298 §2.5 allows a cap ≥ 60 s). */
export const DEFAULT_MAX_RTO_US = 60_000_000;
/** RFC 6298 G: the timer's granularity. The IO driver arms Node timers in whole ms (libutp's clock is ms too). */
export const DEFAULT_CLOCK_GRANULARITY_US = 1_000;

export interface RttOptions {
  initialRtoUs?: number;
  minRtoUs?: number;
  maxRtoUs?: number;
  /** RFC 6298 G; default 1 ms. */
  clockGranularityUs?: number;
}

export class RttEstimator {
  private readonly minRto: number;
  private readonly maxRto: number;
  private readonly granularity: number;
  private srtt = 0;
  private rttvar = 0;
  private sampled = false;
  private minRtt = Number.POSITIVE_INFINITY;
  private latest = 0;
  /** RTO from the estimate alone, already clamped. */
  private baseRto: number;
  /** RTO after back-off; what the timer uses. */
  private currentRto: number;
  private backoffs = 0;

  constructor(opts: RttOptions = {}) {
    this.minRto = nonNegative(opts.minRtoUs, DEFAULT_MIN_RTO_US);
    this.maxRto = Math.max(this.minRto, nonNegative(opts.maxRtoUs, DEFAULT_MAX_RTO_US));
    this.granularity = nonNegative(opts.clockGranularityUs, DEFAULT_CLOCK_GRANULARITY_US);
    this.baseRto = this.clamp(nonNegative(opts.initialRtoUs, DEFAULT_INITIAL_RTO_US));
    this.currentRto = this.baseRto;
  }

  /** Smoothed RTT; 0 before the first sample. */
  get srttUs(): number {
    return this.srtt;
  }

  /** The most recent sample (QUIC's latest_rtt); 0 before any. */
  get latestUs(): number {
    return this.latest;
  }

  get rttvarUs(): number {
    return this.rttvar;
  }

  get hasSample(): boolean {
    return this.sampled;
  }

  /**
   * Smallest sample ever seen (Infinity before any). This is the path's base RTT: do not pass it as
   * `Ledbat.onAck`'s `minRttUs`, which must be the RTT of the packets that ack covers (libutp) —
   * capping queuing delay by the base RTT would keep LEDBAT from ever seeing its 100 ms target on a
   * short path.
   */
  get minRttUs(): number {
    return this.minRtt;
  }

  /** Current RTO including back-off, within [minRtoUs, maxRtoUs]. */
  get rtoUs(): number {
    return this.currentRto;
  }

  /** RTO from the estimate alone (clamped), before back-off. */
  get baseRtoUs(): number {
    return this.baseRto;
  }

  get maxRtoUs(): number {
    return this.maxRto;
  }

  /** Timeouts since the last sample (or `resetBackoff`). */
  get backoffCount(): number {
    return this.backoffs;
  }

  /**
   * One RTT measurement from a packet sent exactly once (Karn's rule, applied by the caller).
   * Clears any back-off. Negative or non-finite samples are ignored.
   */
  onSample(rttUs: number): void {
    if (!(rttUs >= 0) || !Number.isFinite(rttUs)) return;
    if (!this.sampled) {
      // RFC 6298 §2.2
      this.srtt = rttUs;
      this.rttvar = rttUs / 2;
      this.sampled = true;
    } else {
      // RFC 6298 §2.3: RTTVAR uses the SRTT from before this sample.
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rttUs);
      this.srtt = 0.875 * this.srtt + 0.125 * rttUs;
    }
    if (rttUs < this.minRtt) this.minRtt = rttUs;
    this.latest = rttUs;
    this.baseRto = this.clamp(this.srtt + Math.max(this.granularity, 4 * this.rttvar));
    this.resetBackoff();
  }

  /** A retransmission timeout fired: double the RTO (RFC 6298 §5.5), never past maxRtoUs. */
  backoff(): void {
    // The granularity floor keeps a zero RTO (minRtoUs: 0) from staying zero.
    this.currentRto = Math.min(this.maxRto, Math.max(this.granularity, this.currentRto * 2));
    this.backoffs++;
  }

  /**
   * Drop the back-off without a new sample. libutp does this on every ack, including acks of
   * retransmitted packets (`retransmit_timeout = rto` in ack_packet); strict Karn keeps the
   * backed-off value until a valid sample arrives. The connection chooses.
   */
  resetBackoff(): void {
    this.currentRto = this.baseRto;
    this.backoffs = 0;
  }

  stats(): { srttUs: number; rttvarUs: number; rtoUs: number; minRttUs: number } {
    return { srttUs: this.srtt, rttvarUs: this.rttvar, rtoUs: this.currentRto, minRttUs: this.minRtt };
  }

  private clamp(rto: number): number {
    return Math.min(this.maxRto, Math.max(this.minRto, rto));
  }
}

function nonNegative(v: number | undefined, fallback: number): number {
  return v !== undefined && v >= 0 && Number.isFinite(v) ? v : fallback;
}
