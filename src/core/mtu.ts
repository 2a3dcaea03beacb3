/**
 * Path MTU discovery in the packetization layer (DPLPMTUD, RFC 8899), the way a datagram transport
 * that cannot see ICMP does it: it sends probes and learns from their acks.
 *
 * Sizes are uTP datagram sizes (uTP header + extensions + payload = the UDP payload). A probe is an
 * ordinary DATA packet padded with skippable extensions up to the probe size, so losing one loses
 * no data (its retransmission goes out unpadded) and says nothing about congestion.
 *
 *   base ─▶ searching ─▶ complete ─(raise timer)─▶ searching …
 *     │          ▲            │
 *     │          └─ black hole: packets of the current size lost again and again ─┘ (back to base)
 *     └─ black hole at the base itself ─▶ error (the minimum size, searching from there)
 *
 * - Packets start at the base size (RFC 8899 BASE_PLPMTU: 1200 bytes for IPv4, 1280 for IPv6,
 *   less the IP and UDP headers), which nearly every path carries, rather than at the minimum.
 * - Searching probes halfway between the confirmed size and the ceiling; a size counts as too big
 *   after MAX_PROBES losses of probes of that size (one lost probe may be random loss), and the
 *   search ends when the bounds are within SEARCH_DONE_GAP.
 * - Complete: after RAISE_INTERVAL_US the search runs again up to the original ceiling, so a path
 *   whose MTU rose is used.
 * - Black hole: the owner reports that packets of the current size are not getting through (its
 *   retransmission timeout keeps firing on them); the size falls back to the base (or, if the base
 *   itself fails, to the minimum) and the search starts over below the size that failed.
 */

/** RFC 8899 MIN_PLPMTU for IPv4 (576) less the IPv4 (20) and UDP (8) headers: libutp's floor too. */
export const MTU_FLOOR_DEFAULT = 576 - 28;
/** RFC 8899 BASE_PLPMTU for IPv4 (1200) less the IPv4 and UDP headers. */
export const MTU_BASE_IPV4 = 1200 - 28;
/** IPv6's minimum link MTU (1280) less the IPv6 (40) and UDP (8) headers. */
export const MTU_BASE_IPV6 = 1280 - 48;
/** An Ethernet path (1500) minus IPv4 (20) and UDP (8) headers. */
export const MTU_CEILING_DEFAULT = 1500 - 28;
/** RFC 8899 MAX_PROBES: losses of one probe size before it counts as too big. */
export const MAX_PROBES = 3;
/** Stop searching when the bounds are this close (libutp: 16 bytes). */
const SEARCH_DONE_GAP = 16;
/** The smallest probe above the current size: a full packet padded by the 10-byte extension-bits extension. */
const MIN_PROBE_STEP = 10;
/** RFC 8899 PMTU_RAISE_TIMER: 600 s (libutp re-searches every 30 minutes). */
export const RAISE_INTERVAL_US = 600 * 1_000_000;

export type PmtuState = 'base' | 'searching' | 'complete' | 'error';

export interface MtuSearchOptions {
  /** The smallest size ever used (the floor). */
  floor?: number;
  /** The size to start at and fall back to after a black hole (clamped into floor … ceiling). */
  base?: number;
  /** The largest size to try. */
  ceiling?: number;
}

export class MtuSearch {
  state: PmtuState = 'base';
  /** The largest size known to pass: what packets are built at. */
  private size: number;
  /** Upper bound of the search: sizes above it are known (or assumed) not to pass. */
  ceiling: number;
  private readonly floor: number;
  private readonly base: number;
  private maxCeiling: number;
  /** seq_nr of the probe in flight, or −1. */
  probeSeq = -1;
  probeSize = 0;
  /** Probes of `probeSize` lost so far. */
  private losses = 0;
  private raiseAt = 0;
  probesSent = 0;
  probesLost = 0;
  blackHoles = 0;

  constructor(opts: MtuSearchOptions = {}) {
    this.floor = opts.floor ?? MTU_FLOOR_DEFAULT;
    this.maxCeiling = Math.max(this.floor, opts.ceiling ?? MTU_CEILING_DEFAULT);
    this.base = Math.min(Math.max(this.floor, opts.base ?? MTU_BASE_IPV4), this.maxCeiling);
    this.size = this.base;
    this.ceiling = this.maxCeiling;
    this.updateState();
  }

  /** Datagram size to build new packets at. */
  get current(): number {
    return this.size;
  }

  get searching(): boolean {
    return this.ceiling - this.size > SEARCH_DONE_GAP;
  }

  /**
   * Let the search go up to `ceiling` from now on (the peer said it takes larger datagrams). A
   * search that stopped at the old cap resumes; one that found a lower limit keeps it.
   */
  raiseCeiling(ceiling: number): void {
    if (ceiling <= this.maxCeiling) return;
    const atCap = this.ceiling >= this.maxCeiling;
    this.maxCeiling = ceiling;
    if (atCap) {
      this.ceiling = ceiling;
      this.raiseAt = 0;
      this.updateState();
    }
  }

  /** Size of the next probe, or 0 when no probe should go out now. */
  nextProbe(nowUs: number): number {
    if (this.probeSeq >= 0) return 0;
    if (!this.searching) {
      if (this.raiseAt === 0 || nowUs < this.raiseAt) return 0;
      // The raise timer: the path may carry more now.
      this.ceiling = this.maxCeiling;
      this.raiseAt = 0;
      this.updateState();
      if (!this.searching) return 0;
    }
    // A size that lost a probe is tried again (up to MAX_PROBES) before the bound moves.
    if (this.losses > 0 && this.probeSize > this.size && this.probeSize <= this.ceiling) return this.probeSize;
    // Padding a full-size packet into a probe takes at least the 10-byte extension-bits extension.
    return Math.max((this.size + this.ceiling + 1) >>> 1, this.size + MIN_PROBE_STEP);
  }

  onProbeSent(seqNr: number, size: number): void {
    if (size !== this.probeSize) this.losses = 0;
    this.probeSeq = seqNr;
    this.probeSize = size;
    this.probesSent++;
  }

  /** The probe was acked: its size passes. */
  onProbeAcked(nowUs: number): void {
    this.size = this.probeSize;
    this.losses = 0;
    this.finishProbe(nowUs);
  }

  /** The probe was lost (or its ack did not come in time): after MAX_PROBES, its size is too big. */
  onProbeLost(nowUs: number): void {
    this.probesLost++;
    if (++this.losses >= MAX_PROBES) {
      this.ceiling = this.probeSize - 1;
      this.losses = 0;
    }
    this.finishProbe(nowUs);
  }

  /**
   * Packets of the current size keep getting lost while the connection is otherwise alive: the
   * path's MTU fell below it. Fall back to the base (or the floor, if the base is what failed) and
   * search again below the size that failed. Returns whether the size changed.
   */
  onBlackHole(nowUs: number): boolean {
    if (this.size <= this.floor) return false;
    this.blackHoles++;
    const failed = this.size;
    this.size = failed > this.base ? this.base : this.floor;
    this.ceiling = failed - 1;
    this.probeSeq = -1;
    this.losses = 0;
    this.raiseAt = 0;
    this.updateState();
    if (this.size === this.floor && failed <= this.base) this.state = 'error';
    if (!this.searching) this.raiseAt = nowUs + RAISE_INTERVAL_US;
    return true;
  }

  private finishProbe(nowUs: number): void {
    this.probeSeq = -1;
    this.updateState();
    if (!this.searching) {
      this.ceiling = this.size;
      this.raiseAt = nowUs + RAISE_INTERVAL_US;
    }
  }

  private updateState(): void {
    if (this.state === 'error' && this.size === this.floor) return;
    this.state = this.searching ? (this.size === this.base ? 'base' : 'searching') : 'complete';
  }
}
