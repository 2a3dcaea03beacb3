/**
 * LEDBAT congestion control (RFC 6817) as libutp applies it to uTP (BEP 29).
 *
 * The sender keeps the one-way queuing delay it causes near TARGET: the peer echoes how long our
 * packets took (`timestamp_difference_microseconds`), we subtract the smallest such value seen in the
 * last 13 minutes (the base delay: propagation plus the clock offset between the hosts, which
 * therefore cancels out) and grow or shrink the window in proportion to how far the remainder is
 * from TARGET. Loss halves the window, a retransmission timeout resets it to one packet.
 *
 * Sans-IO: every input carries `nowUs`, a monotonic µs clock reading (not truncated to 32 bits).
 * Delay samples are 32-bit wrapping µs values straight from the header and are only ever compared
 * with wrapping arithmetic. Nothing here allocates after construction.
 */
import { tsDiff } from '../wire/seq.js';
import { zeroDoubles } from './doubles.js';

/** RFC 6817 TARGET; libutp CCONTROL_TARGET (100 ms). */
export const TARGET_DELAY_US = 100_000;
/** libutp MAX_CWND_INCREASE_BYTES_PER_RTT: window growth per RTT at zero queuing delay. */
export const MAX_CWND_INCREASE_BYTES_PER_RTT = 3000;
/** libutp CUR_DELAY_SIZE: samples in the current-delay filter (RFC 6817 CURRENT_FILTER). */
export const CUR_DELAY_SIZE = 3;
/** libutp DELAY_BASE_HISTORY: one-minute buckets of base delay kept (RFC 6817 BASE_HISTORY is 10). */
export const DELAY_BASE_HISTORY = 13;
/** libutp add_sample: a new base-delay bucket "once every minute". */
export const DELAY_BASE_BUCKET_US = 60_000_000;
/** libutp MAX_WINDOW_DECAY (100 ms): at most one loss halving per interval. */
export const MAX_WINDOW_DECAY_US = 100_000;
/** libutp MIN_WINDOW_SIZE (bytes): the window may shrink below one packet, down to this. */
export const MIN_WINDOW_SIZE = 10;
/** libutp utp_process_incoming: a drop in their base delay larger than this is not clock drift. */
export const MAX_CLOCK_DRIFT_STEP_US = 10_000;
/** libutp apply_ccontrol: slow start ends once our delay exceeds this fraction of the target. */
export const SLOW_START_EXIT_FRACTION = 0.9;
/** Default payload bytes per packet (MSS); path MTU discovery may change it via setPacketSize. */
export const DEFAULT_PACKET_SIZE = 1400;
/** Upper bound on cwnd (libutp clamps to opt_sndbuf, 1 MiB by default). */
export const DEFAULT_MAX_CWND = 16 * 1024 * 1024;

export interface LedbatOptions {
  /** Bytes of one full packet (MSS); default 1400. */
  packetSize?: number;
  /** RFC 6817 TARGET; default 100 ms. */
  targetDelayUs?: number;
  /** libutp MAX_CWND_INCREASE_BYTES_PER_RTT; default 3000. */
  maxCwndIncreasePerRtt?: number;
  /** Bytes; default libutp MIN_WINDOW_SIZE (10), i.e. the window may fall below one packet. */
  minCwnd?: number;
  /** Bytes; default one packet (libutp). */
  initialCwnd?: number;
  /** Bytes; default 16 MiB. */
  maxCwnd?: number;
  /** libutp MAX_WINDOW_DECAY; default 100 ms. */
  windowDecayUs?: number;
  /** Default true (libutp slow_start). */
  slowStart?: boolean;
}

export interface LedbatStats {
  cwnd: number;
  /** Base of the delays the peer reports for our packets (includes the clock offset, so only differences mean anything). */
  baseDelayUs: number;
  /** Filtered current delay, same origin as baseDelayUs. */
  currentDelayUs: number;
  /** currentDelayUs − baseDelayUs: what LEDBAT steers toward the target. */
  queuingDelayUs: number;
  slowStart: boolean;
  /** onLoss calls, including those swallowed by the decay interval. */
  losses: number;
  timeouts: number;
  ssthresh: number;
}

/** Where DelayHistory's buckets start in its one array (after the recent samples). */
const BUCKETS = CUR_DELAY_SIZE;

/** a < b on the 32-bit circle: the shorter walk from a to b goes upward. */
function wrapLess(a: number, b: number): boolean {
  return tsDiff(b, a) < tsDiff(a, b);
}

/**
 * One direction's delay samples (libutp DelayHist): a base (minimum over per-minute buckets) and the
 * last CUR_DELAY_SIZE samples relative to that base.
 */
export class DelayHistory {
  private baseDelay = 0;
  private seeded = false;
  /**
   * One array for both: the last CUR_DELAY_SIZE samples at 0 …, then the DELAY_BASE_HISTORY
   * per-minute buckets from BUCKETS on. Unsigned 32-bit values (every store is one already, or
   * made one with `>>> 0`) in a plain array of doubles: a Uint32Array costs ~90 bytes more per
   * history in objects (its buffer), and there are two per connection.
   */
  private readonly samples: number[] = zeroDoubles(BUCKETS + DELAY_BASE_HISTORY);
  private recentNext = 0;
  private recentCount = 0;
  private bucket = 0;
  private bucketStartUs = 0;

  get initialized(): boolean {
    return this.seeded;
  }

  get base(): number {
    return this.baseDelay;
  }

  /** Minimum of the recent samples above base (RFC 6817 FILTER = MIN); 0 before any sample. */
  get value(): number {
    let v = 0xffffffff;
    for (let i = 0; i < this.recentCount; i++) {
      const d = this.samples[i] as number;
      if (d < v) v = d;
    }
    return this.recentCount === 0 ? 0 : v;
  }

  add(sample: number, nowUs: number): void {
    sample >>>= 0;
    if (!this.seeded) {
      this.samples.fill(sample, BUCKETS);
      this.baseDelay = sample;
      this.bucketStartUs = nowUs;
      this.seeded = true;
    }
    if (wrapLess(sample, this.samples[BUCKETS + this.bucket] as number)) this.samples[BUCKETS + this.bucket] = sample;
    if (wrapLess(sample, this.baseDelay)) this.baseDelay = sample;

    this.samples[this.recentNext] = tsDiff(sample, this.baseDelay);
    this.recentNext = (this.recentNext + 1) % CUR_DELAY_SIZE;
    if (this.recentCount < CUR_DELAY_SIZE) this.recentCount++;

    const elapsed = nowUs - this.bucketStartUs;
    if (elapsed > DELAY_BASE_BUCKET_US) {
      // libutp steps one bucket per sample; after a silence of several minutes we step once per
      // minute missed, so an idle connection forgets an old minimum on time.
      const steps = Math.min(DELAY_BASE_HISTORY, Math.floor(elapsed / DELAY_BASE_BUCKET_US));
      for (let i = 0; i < steps; i++) {
        this.bucket = (this.bucket + 1) % DELAY_BASE_HISTORY;
        this.samples[BUCKETS + this.bucket] = sample;
      }
      this.bucketStartUs = nowUs;
      let min = this.samples[BUCKETS] as number;
      for (let i = 1; i < DELAY_BASE_HISTORY; i++) {
        const b = this.samples[BUCKETS + i] as number;
        if (wrapLess(b, min)) min = b;
      }
      this.baseDelay = min;
    }
  }

  /** Raise the whole base history by `offset` µs (mod 2³²): clock-drift and RTT-cap corrections. */
  shift(offset: number): void {
    for (let i = BUCKETS; i < BUCKETS + DELAY_BASE_HISTORY; i++) {
      this.samples[i] = ((this.samples[i] as number) + offset) >>> 0;
    }
    this.baseDelay = (this.baseDelay + offset) >>> 0;
  }
}

export class Ledbat {
  private packetSize: number;
  private readonly target: number;
  private readonly maxIncrease: number;
  private readonly minCwnd: number;
  private readonly maxCwnd: number;
  private readonly decayUs: number;
  private readonly slowStartEnabled: boolean;
  private window: number;
  private inSlowStart: boolean;
  private ssthresh: number;
  private lastDecayUs = Number.NEGATIVE_INFINITY;
  private losses = 0;
  private timeouts = 0;
  /** Delays of our packets to the peer, as the peer reports them. */
  private readonly ours = new DelayHistory();
  /** Delays of the peer's packets to us, as we measure them; only its base is used (drift). */
  private readonly theirs = new DelayHistory();

  constructor(opts: LedbatOptions = {}) {
    this.packetSize = positive('packetSize', opts.packetSize, DEFAULT_PACKET_SIZE);
    this.target = positive('targetDelayUs', opts.targetDelayUs, TARGET_DELAY_US);
    this.maxIncrease = positive('maxCwndIncreasePerRtt', opts.maxCwndIncreasePerRtt, MAX_CWND_INCREASE_BYTES_PER_RTT);
    this.minCwnd = positive('minCwnd', opts.minCwnd, MIN_WINDOW_SIZE);
    this.maxCwnd = positive('maxCwnd', opts.maxCwnd, DEFAULT_MAX_CWND);
    if (this.minCwnd > this.maxCwnd) throw new RangeError(`minCwnd ${this.minCwnd} exceeds maxCwnd ${this.maxCwnd}`);
    this.decayUs = nonNegative('windowDecayUs', opts.windowDecayUs, MAX_WINDOW_DECAY_US);
    this.slowStartEnabled = opts.slowStart ?? true;
    this.inSlowStart = this.slowStartEnabled;
    this.ssthresh = this.maxCwnd;
    this.window = this.clamp(positive('initialCwnd', opts.initialCwnd, this.packetSize));
  }

  /** Congestion window in bytes (may be fractional and below one packet); within [minCwnd, maxCwnd]. */
  get cwnd(): number {
    return this.window;
  }

  /** Whether the window is still in slow start (which the connection does not pace). */
  get slowStarting(): boolean {
    return this.inSlowStart;
  }

  /**
   * Feed the two delay fields of a received packet. `ourDelayUs` is the header's
   * timestamp_difference (the peer's measurement of our packets' one-way delay, 0 = none yet);
   * `theirDelayUs` is our receive time (ts32) minus the header's timestamp (0 = none).
   */
  onDelaySample(nowUs: number, ourDelayUs: number, theirDelayUs: number): void {
    if (!Number.isFinite(nowUs)) return;
    const theirs = theirDelayUs >>> 0;
    if (theirs !== 0) {
      const hadBase = this.theirs.initialized;
      const before = this.theirs.base;
      this.theirs.add(theirs, nowUs);
      // Clock drift moves the two directions' delays in opposite directions. When their base
      // falls a little, ours is taken to have risen by as much (libutp); a big drop is a real path
      // change, not drift, and is left alone.
      if (hadBase && this.ours.initialized && wrapLess(this.theirs.base, before)) {
        const drop = tsDiff(before, this.theirs.base);
        if (drop <= MAX_CLOCK_DRIFT_STEP_US) this.ours.shift(drop);
      }
    }
    const ours = ourDelayUs >>> 0;
    if (ours !== 0) this.ours.add(ours, nowUs);
  }

  /**
   * Apply LEDBAT to an ack of `bytesAcked` new payload bytes (libutp apply_ccontrol).
   *
   * `flightBytes` is what was in flight before this ack: the window only grows if the sender was
   * using it (flight + one packet > cwnd, libtorrent's cwnd_saturated), so an app-limited or
   * peer-window-limited sender does not inflate it. Shrinking always applies.
   *
   * `minRttUs` is the smallest RTT among the packets this ack covers (libutp min_rtt: now − time
   * sent, per acked packet), not the path's all-time minimum: queuing delay cannot exceed it, so a
   * larger reported delay is capped and the base shifted up. Pass Infinity when none is known.
   * Without any delay sample yet the ack changes nothing (libutp skips ccontrol then).
   */
  onAck(_nowUs: number, bytesAcked: number, flightBytes: number, minRttUs: number): void {
    if (!(bytesAcked > 0) || !this.ours.initialized) return;
    const cap = minRttUs >= 0 ? minRttUs : Number.POSITIVE_INFINITY;
    const measured = this.ours.value;
    if (measured > cap) this.ours.shift(Math.floor(measured - cap));
    const ourDelay = Math.min(measured, cap);

    const cwnd = this.window;
    const windowFactor = Math.min(bytesAcked, cwnd) / Math.max(bytesAcked, cwnd);
    const delayFactor = (this.target - ourDelay) / this.target;
    const saturated = flightBytes + this.packetSize > cwnd;
    let gain: number;
    if (ourDelay <= this.target) {
      gain = this.maxIncrease * windowFactor * delayFactor;
    } else {
      // Above target, LEDBAT++ (draft-irtf-iccrg-ledbat-plus-plus §4.2): per RTT
      // W += max(GAIN − W·(delay/target − 1), −W/2), this ack's share being bytesAcked/W. The decrease
      // grows with the window, so flows sharing a queue converge; libutp's purely additive decrease
      // keeps whatever gap slow start left between them forever.
      const perRtt = Math.max(this.maxIncrease - cwnd * (ourDelay / this.target - 1), -cwnd / 2);
      gain = perRtt * windowFactor;
    }
    if (gain > 0 && !saturated) gain = 0;
    const ledbatCwnd = cwnd + gain;

    if (!this.inSlowStart) {
      this.window = ledbatCwnd;
    } else if (ourDelay > this.target * SLOW_START_EXIT_FRACTION) {
      this.inSlowStart = false;
      this.ssthresh = cwnd;
      this.window = ledbatCwnd;
    } else if (saturated) {
      // TCP-style slow start (libtorrent's): the window grows by what was acked, at most doubling
      // per ack. libutp's own step (window_factor × one packet) is slower than its LEDBAT gain.
      const ssCwnd = cwnd + Math.min(bytesAcked, cwnd);
      if (ssCwnd > this.ssthresh) {
        this.inSlowStart = false;
        this.window = ledbatCwnd;
      } else {
        this.window = Math.max(ssCwnd, ledbatCwnd);
      }
    } else {
      this.window = ledbatCwnd;
    }
    this.window = this.clamp(this.window);
  }

  /**
   * Loss seen through duplicate acks or SACK: halve, at most once per round trip (RFC 6817) and at
   * most once per windowDecayUs (libutp maybe_decay_win's 100 ms). libutp's interval alone halves
   * twice for one overflow on a path whose RTT is above 100 ms — which LEDBAT's own target queue
   * makes every path whose base delay is more than a few ms.
   */
  onLoss(nowUs: number, rttUs = 0): void {
    this.losses++;
    if (!(nowUs - this.lastDecayUs >= Math.max(this.decayUs, rttUs))) return;
    this.lastDecayUs = nowUs;
    this.window = this.clamp(this.window / 2);
    this.inSlowStart = false;
    this.ssthresh = this.window;
  }

  /**
   * Retransmission timeout (libutp check_timeouts). Normally the window restarts at one packet in
   * slow start; libutp's floor is MIN_WINDOW_SIZE, below a packet, so "one packet" wins unless
   * minCwnd is set higher. Pass `flightBytes` 0 when the timer fired with nothing in flight: the
   * connection is idle, not congested, and the window only decays by a third, never below a packet.
   */
  onTimeout(_nowUs: number, flightBytes?: number): void {
    this.timeouts++;
    if (flightBytes === 0 && this.window > this.packetSize) {
      this.window = this.clamp(Math.max((this.window * 2) / 3, this.packetSize));
      return;
    }
    this.window = this.clamp(this.packetSize);
    this.inSlowStart = this.slowStartEnabled;
  }

  /** Bytes that may be in flight: min(cwnd, peer's advertised window), whole bytes. */
  sendWindow(peerWindowBytes: number): number {
    const w = Math.min(this.window, peerWindowBytes);
    return w > 0 ? Math.floor(w) : 0;
  }

  /**
   * Path MTU changed. Only the packet size used for slow-start steps, the saturation test and the
   * timeout reset changes; minCwnd is in bytes and needs no rescaling.
   */
  setPacketSize(bytes: number): void {
    if (bytes > 0 && Number.isFinite(bytes)) this.packetSize = bytes;
  }

  stats(): LedbatStats {
    const queuing = this.ours.value;
    return {
      cwnd: this.window,
      baseDelayUs: this.ours.base,
      currentDelayUs: (this.ours.base + queuing) >>> 0,
      queuingDelayUs: queuing,
      slowStart: this.inSlowStart,
      losses: this.losses,
      timeouts: this.timeouts,
      ssthresh: this.ssthresh,
    };
  }

  private clamp(w: number): number {
    // NaN fails every comparison and lands on the floor.
    if (!(w >= this.minCwnd)) return this.minCwnd;
    return Math.min(w, this.maxCwnd);
  }
}

function positive(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be a positive finite number, got ${v}`);
  return v;
}

function nonNegative(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be a non-negative finite number, got ${v}`);
  return v;
}
