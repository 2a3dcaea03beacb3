/**
 * Path MTU discovery as a binary search between a floor that is known to pass and a ceiling that
 * may not (libutp's mtu_floor / mtu_ceiling / mtu_last, with its 576-byte floor).
 *
 * Sizes here are uTP datagram sizes (uTP header + extensions + payload, no IP/UDP headers).
 * A probe is an ordinary DATA packet padded with skippable extensions up to the probe size, so
 * losing a probe never loses data: its retransmission goes out unpadded at the floor size.
 */

/** libutp mtu_reset: 576-byte IP datagrams always pass; minus IPv4 (20) and UDP (8) headers. */
export const MTU_FLOOR_DEFAULT = 576 - 28;
/** An Ethernet path (1500) minus IPv4 (20) and UDP (8) headers. */
export const MTU_CEILING_DEFAULT = 1500 - 28;
/** libutp mtu_search_update: stop searching when ceiling − floor ≤ 16. */
const SEARCH_DONE_GAP = 16;
/** libutp: the search restarts every 30 minutes in case the path changed. */
const RESEARCH_INTERVAL_US = 30 * 60 * 1_000_000;

export interface MtuSearchOptions {
  floor?: number;
  ceiling?: number;
  /** Size to use before any probe has passed: the floor, unless a larger size is known to work. */
  initial?: number;
}

export class MtuSearch {
  floor: number;
  ceiling: number;
  private initialCeiling: number;
  private readonly initialFloor: number;
  /** seq_nr of the probe in flight, or −1. */
  probeSeq = -1;
  probeSize = 0;
  private researchAt = 0;
  probesSent = 0;
  probesLost = 0;

  constructor(opts: MtuSearchOptions = {}) {
    this.initialFloor = opts.floor ?? MTU_FLOOR_DEFAULT;
    this.initialCeiling = Math.max(this.initialFloor, opts.ceiling ?? MTU_CEILING_DEFAULT);
    this.floor = Math.min(Math.max(this.initialFloor, opts.initial ?? this.initialFloor), this.initialCeiling);
    this.ceiling = this.initialCeiling;
  }

  /**
   * Let the search go up to `ceiling` from now on (the peer said it takes larger datagrams). A
   * search that stopped at the old cap resumes; one that found a lower limit keeps it.
   */
  raiseCeiling(ceiling: number): void {
    if (ceiling <= this.initialCeiling) return;
    const atCap = this.ceiling >= this.initialCeiling;
    this.initialCeiling = ceiling;
    if (atCap) {
      this.ceiling = ceiling;
      this.researchAt = 0;
    }
  }

  /** Datagram size to build new packets at: the largest size known to pass. */
  get current(): number {
    return this.floor;
  }

  get searching(): boolean {
    return this.ceiling - this.floor > SEARCH_DONE_GAP;
  }

  /** Size of the next probe, or 0 when no probe should go out now. */
  nextProbe(nowUs: number): number {
    if (this.probeSeq >= 0) return 0;
    if (!this.searching) {
      if (this.researchAt === 0 || nowUs < this.researchAt) return 0;
      this.ceiling = this.initialCeiling;
      this.researchAt = 0;
      if (!this.searching) return 0;
    }
    return (this.floor + this.ceiling + 1) >>> 1;
  }

  onProbeSent(seqNr: number, size: number): void {
    this.probeSeq = seqNr;
    this.probeSize = size;
    this.probesSent++;
  }

  onProbeAcked(nowUs: number): void {
    this.floor = this.probeSize;
    this.finishProbe(nowUs);
  }

  onProbeLost(nowUs: number): void {
    this.ceiling = this.probeSize - 1;
    this.probesLost++;
    this.finishProbe(nowUs);
  }

  private finishProbe(nowUs: number): void {
    this.probeSeq = -1;
    this.probeSize = 0;
    if (!this.searching) {
      this.ceiling = this.floor;
      this.researchAt = nowUs + RESEARCH_INTERVAL_US;
    }
  }
}
