/**
 * Packets in flight: every packet we have allocated a seq_nr for and the peer has not acknowledged,
 * in a ring indexed by seqNr & (slots − 1) that grows with the window. It doubles as the retransmit queue.
 *
 * The held packets span oldestSeq … nextSeq − 1. The oldest one is always still held (the span
 * shrinks from the front as soon as it is acked); packets inside the span may already be freed by a
 * selective ACK. Packets get their first transmission in seq order (nextUnsent), so the sent ones
 * are a prefix of the span, oldestSeq … sentEnd − 1.
 *
 * Loss detection follows libutp: three duplicate pure ACKs, or a selective ACK showing a hole with at
 * least three received packets after it. Both rules apply per transmission, so ACKs that were already
 * on their way when we retransmitted cannot condemn the retransmission again: a SACK hole counts only
 * when three packets sent after its latest transmission were SACKed, and the third duplicate ACK is
 * ignored if ackNr + 1 was resent since the run of duplicates began. (libutp gets the same effect
 * from fast_resend_seq_nr, but that allows a single fast resend per seq; a lost retransmission then
 * waits for the timeout.)
 */
import { seqAdd, seqDiff } from '../wire/seq.js';
import { sackHas } from './sack.js';

/** libutp DUPLICATE_ACKS_BEFORE_RESEND */
export const DUPLICATE_ACKS_BEFORE_RESEND = 3;
/** libutp ACK_NR_ALLOWED_WINDOW: slack for acks older than the last one, beyond the window in packets. */
export const ACK_NR_ALLOWED_BEHIND = DUPLICATE_ACKS_BEFORE_RESEND;
/** libutp OUTGOING_BUFFER_MAX_SIZE — a sensible capacity for a connection's send buffer. */
export const OUTGOING_BUFFER_MAX_SIZE = 1024;
/** Slots the send buffer gets with its first packet (it doubles on demand up to its capacity). */
const INITIAL_SLOTS = 16;
/** What an empty ring's typed arrays are before the first packet: nothing indexes them (the span is empty). */
const NO_BYTES = new Uint8Array(0);
const NO_DOUBLES = new Float64Array(0);

export interface OutPacket {
  seqNr: number;
  /** Whole datagram bytes (header + payload). The slot owns this buffer and reuses it. */
  buf: Uint8Array;
  /** Bytes of buf in use (set by the caller after writing). */
  length: number;
  payloadLength: number;
  /** µs of the last transmission. */
  sentAt: number;
  /** 0 = queued, not sent yet; 1 = sent once; > 1 = retransmitted. */
  transmissions: number;
  /** Marked lost, waiting to be sent again. */
  needResend: boolean;
}

/** One object reused by the caller; onAck overwrites every field. */
export interface AckResult {
  /** Packets newly acked (cumulatively or selectively). */
  ackedPackets: number;
  /** Their payload bytes. */
  ackedBytes: number;
  /** now − sentAt of the newest newly-acked packet sent exactly once and never declared lost (Karn: a packet
   *  marked lost may be acked by its pending retransmission); −1 if none. */
  rttSampleUs: number;
  /** now − latest sentAt over every newly acked packet, retransmissions included; −1 if none. LEDBAT caps
   *  its delay estimate with it, as libutp's min_rtt (a lower bound, so ambiguity does not matter). */
  minRttUs: number;
  /** Packets this ack newly marked needResend. */
  newlyLost: number;
  duplicate: boolean;
  /** ack_nr acknowledged a seq never sent, or one far behind: ignored, nothing changed. */
  invalid: boolean;
}

export function createAckResult(): AckResult {
  return {
    ackedPackets: 0,
    ackedBytes: 0,
    rttSampleUs: -1,
    minRttUs: -1,
    newlyLost: 0,
    duplicate: false,
    invalid: false,
  };
}

export interface InFlightOptions {
  /** Max packets held; a power of two, at most 32768 so the span stays unambiguous in 16-bit seqs. */
  capacity: number;
  /** Size of each slot's buffer. */
  packetBytes: number;
  /** Seq of the first packet. */
  initialSeq: number;
}

export class InFlightPackets {
  private readonly capacity: number;
  /**
   * Slots allocated now − 1: −1 until the first packet (an idle connection holds no ring), then
   * INITIAL_SLOTS, doubling on demand up to `capacity`.
   */
  private mask: number;
  private packetBytes: number;
  private slots: (OutPacket | undefined)[];
  /** 1 while the slot holds an unacked packet. */
  private live: Uint8Array;
  /** 1 while the slot is counted in bytesInFlight / packetsInFlight. */
  private inFlight: Uint8Array;
  /** Payload bytes the slot added to bytesInFlight: the caller may grow payloadLength of a queued packet. */
  private flightBytes: Float64Array;
  /** Order of the slot's latest transmission (1, 2, …); survives a selective ACK, for the loss rule. */
  private sendOrder: Float64Array;
  private sendCounter = 0;
  /** Most packets ever in flight at once: how far behind a legitimate (reordered) ack can be. */
  private maxPacketsInFlight = 0;

  private _nextSeq = 0;
  private _oldestSeq = 0;
  /** One past the newest seq ever transmitted: acks of sentEnd or beyond acknowledge nothing we sent. */
  private sentEnd = 0;
  private _count = 0;
  private _bytesInFlight = 0;
  private _packetsInFlight = 0;
  private resendCount = 0;
  /** No packet older than this has needResend. */
  private resendCursor = 0;
  /** No packet older than this is unsent. */
  private unsentCursor = 0;
  private dupAcks = 0;
  /** sendCounter when the current run of duplicate acks began. */
  private dupStreakOrder = 0;

  /** Scratch for onAck: latest sentAt among the packets the current ack frees. */
  private latestAckedSentAt = -1;

  constructor(opts: InFlightOptions) {
    const { capacity, packetBytes, initialSeq } = opts;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 32768 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`send buffer capacity must be a power of two ≤ 32768, got ${capacity}`);
    }
    this.capacity = capacity;
    // An idle connection keeps no ring; the first allocate() makes one, and a busy connection's grows
    // to what its window needs.
    this.mask = -1;
    this.packetBytes = packetBytes;
    this.slots = [];
    this.live = NO_BYTES;
    this.inFlight = NO_BYTES;
    this.flightBytes = NO_DOUBLES;
    this.sendOrder = NO_DOUBLES;
    this.emptyFrom(initialSeq & 0xffff);
  }

  /** Number packets from `initialSeq` on; only while nothing is held (before the handshake picks the seq). */
  restart(initialSeq: number): void {
    if (this._count !== 0) throw new Error('restart: packets are held');
    this.emptyFrom(initialSeq & 0xffff);
  }

  /** Nothing held, and the next packet numbered `seq`: every cursor there. */
  private emptyFrom(seq: number): void {
    this._nextSeq = seq;
    this._oldestSeq = seq;
    this.sentEnd = seq;
    this.resendCursor = seq;
    this.unsentCursor = seq;
  }

  /** Some packet is marked lost and waits to be sent again. */
  get hasResend(): boolean {
    return this.resendCount > 0;
  }

  get nextSeq(): number {
    return this._nextSeq;
  }
  /** Packets held (unacked, sent or not). Packets freed by a SACK inside the span are not counted. */
  get count(): number {
    return this._count;
  }
  get oldestSeq(): number {
    return this._oldestSeq;
  }
  /** How far behind the last cumulatively acked seq a peer's ack_nr can plausibly lie (see onAck). */
  get ackBehindLimit(): number {
    return this.maxPacketsInFlight + ACK_NR_ALLOWED_BEHIND;
  }
  get bytesInFlight(): number {
    return this._bytesInFlight;
  }
  get packetsInFlight(): number {
    return this._packetsInFlight;
  }
  /**
   * No room for another allocate(): the span oldestSeq … nextSeq − 1 fills the ring. That is
   * count === capacity, unless a SACK freed packets inside the span — their slots cannot be reused
   * until the cumulative ACK passes them.
   */
  get full(): boolean {
    return this.span() === this.capacity;
  }

  /** Slot buffers allocated from now on have at least n bytes (path MTU discovery grew the packet). */
  setPacketBytes(n: number): void {
    this.packetBytes = n;
  }

  allocate(payloadLength: number): OutPacket {
    if (this.full) throw new Error('send buffer full: check `full` before allocate()');
    if (this.span() > this.mask) this.grow();
    const seq = this._nextSeq;
    const i = seq & this.mask;
    let p = this.slots[i];
    if (p === undefined) {
      p = {
        seqNr: seq,
        buf: new Uint8Array(this.packetBytes),
        length: 0,
        payloadLength,
        sentAt: 0,
        transmissions: 0,
        needResend: false,
      };
      this.slots[i] = p;
    } else {
      if (p.buf.length < this.packetBytes) p.buf = new Uint8Array(this.packetBytes);
      p.seqNr = seq;
      p.length = 0;
      p.payloadLength = payloadLength;
      p.sentAt = 0;
      p.transmissions = 0;
      p.needResend = false;
    }
    this.live[i] = 1;
    this.inFlight[i] = 0;
    this.sendOrder[i] = 0;
    this._count++;
    this._nextSeq = seqAdd(seq, 1);
    return p;
  }

  get(seqNr: number): OutPacket | undefined {
    if (!this.inSpan(seqNr)) return undefined;
    const i = seqNr & this.mask;
    return this.live[i] === 1 ? this.slots[i] : undefined;
  }

  onSent(p: OutPacket, nowUs: number): void {
    const i = p.seqNr & this.mask;
    if (this.live[i] !== 1 || this.slots[i] !== p) throw new Error(`onSent: seq ${p.seqNr} is not held`);
    if (p.needResend) {
      p.needResend = false;
      this.resendCount--;
    }
    // A packet re-sent while still counted in flight (never declared lost) must not be counted twice.
    if (this.inFlight[i] === 0) {
      this.inFlight[i] = 1;
      this.flightBytes[i] = p.payloadLength;
      this._bytesInFlight += p.payloadLength;
      if (++this._packetsInFlight > this.maxPacketsInFlight) this.maxPacketsInFlight = this._packetsInFlight;
    }
    p.transmissions++;
    p.sentAt = nowUs;
    this.sendOrder[i] = ++this.sendCounter;
    if (seqDiff(p.seqNr, this.sentEnd) >= 0) this.sentEnd = seqAdd(p.seqNr, 1);
  }

  onAck(ackNr: number, sack: Uint8Array | undefined, nowUs: number, isPureAck: boolean, out: AckResult): void {
    out.ackedPackets = 0;
    out.ackedBytes = 0;
    out.rttSampleUs = -1;
    out.minRttUs = -1;
    this.latestAckedSentAt = -1;
    out.newlyLost = 0;
    out.duplicate = false;
    out.invalid = false;
    ackNr &= 0xffff;

    const oldest = this._oldestSeq;
    const prevAck = seqAdd(oldest, -1);
    const sentSpan = (this.sentEnd - oldest) & 0xffff;
    // How far ackNr is past the last cumulatively acked seq: 0 = nothing new, sentSpan = all sent.
    const ahead = (ackNr - prevAck) & 0xffff;
    if (ahead > sentSpan) {
      const behind = (prevAck - ackNr) & 0xffff;
      // Ahead of anything sent (libtorrent's pitfall: acking queued-but-unsent data), or further
      // behind than any ack the peer can have sent: a packet it sent earlier carries an ack at most
      // our largest window behind the current one (libutp allows its window in packets + 3).
      if (behind > this.ackBehindLimit) {
        out.invalid = true;
        return;
      }
    }

    let newestSentAt = -1;

    if (ahead > 0 && ahead <= sentSpan) {
      this.dupAcks = 0;
      for (let s = oldest, n = 0; n < ahead; n++, s = (s + 1) & 0xffff) {
        const i = s & this.mask;
        const p = this.slots[i]!;
        // A gap in first transmissions would mean the caller sent out of order; never ack unsent data.
        if (this.live[i] !== 1 || p.transmissions === 0) continue;
        if (p.transmissions === 1 && !p.needResend && p.sentAt > newestSentAt) newestSentAt = p.sentAt;
        if (p.sentAt > this.latestAckedSentAt) this.latestAckedSentAt = p.sentAt;
        out.ackedPackets++;
        out.ackedBytes += p.payloadLength;
        this.free(i, p);
      }
    } else if (ahead === 0 && isPureAck && this._count > 0 && this.slots[oldest & this.mask]!.transmissions > 0) {
      // libutp counts only ST_STATE: data packets repeat ack_nr whenever the peer has its own data to send.
      out.duplicate = true;
      if (++this.dupAcks === 1) this.dupStreakOrder = this.sendCounter;
      const i = oldest & this.mask;
      // Resent since the streak began (a SACK got there first): these duplicates may predate the resend.
      // Fast retransmit once per packet (libutp's fast_resend_seq_nr): duplicates of a later run may still
      // predate the first resend, and a second resend on them would double the packet for nothing.
      if (
        this.dupAcks === DUPLICATE_ACKS_BEFORE_RESEND &&
        this.sendOrder[i]! <= this.dupStreakOrder &&
        this.slots[i]!.transmissions === 1
      ) {
        if (this.markLost(i, this.slots[i]!)) out.newlyLost++;
      }
    } else {
      this.dupAcks = 0;
    }

    if (sack !== undefined && sentSpan > 0) {
      newestSentAt = this.selectiveAck(ackNr, sack, oldest, sentSpan, newestSentAt, out);
    }

    this.advanceOldest();
    if (newestSentAt >= 0) out.rttSampleUs = nowUs > newestSentAt ? nowUs - newestSentAt : 0;
    const latest = this.latestAckedSentAt;
    if (latest >= 0) out.minRttUs = nowUs > latest ? nowUs - latest : 0;
  }

  /**
   * Walks the mask from its highest bit down to ackNr + 1 (an implicit hole), keeping the three
   * latest transmission orders among SACKed packets seen so far: a hole is lost when the third of
   * them is later than its own latest transmission. Only seqs in oldest … sentEnd − 1 (as they were
   * before this ack) are considered. Returns the updated newest once-sent sentAt for the RTT sample.
   */
  private selectiveAck(
    ackNr: number,
    sack: Uint8Array,
    oldest: number,
    sentSpan: number,
    newestSentAt: number,
    out: AckResult,
  ): number {
    let o1 = -1;
    let o2 = -1;
    let o3 = -1;
    for (let k = sack.length * 8 - 1; k >= -1; k--) {
      const s = (ackNr + 2 + k) & 0xffff;
      if (((s - oldest) & 0xffff) >= sentSpan) continue;
      const i = s & this.mask;
      const bit = sackHas(sack, k);
      const p = this.slots[i]!;
      if (bit) {
        // Freed earlier by another SACK: its sendOrder is still valid (the slot is inside the span).
        if (this.live[i] === 1) {
          if (p.transmissions === 0) continue;
          if (p.transmissions === 1 && !p.needResend && p.sentAt > newestSentAt) newestSentAt = p.sentAt;
          if (p.sentAt > this.latestAckedSentAt) this.latestAckedSentAt = p.sentAt;
          out.ackedPackets++;
          out.ackedBytes += p.payloadLength;
          this.free(i, p);
        }
        const o = this.sendOrder[i]!;
        if (o > o1) {
          o3 = o2;
          o2 = o1;
          o1 = o;
        } else if (o > o2) {
          o3 = o2;
          o2 = o;
        } else if (o > o3) {
          o3 = o;
        }
      } else if (o3 > 0 && this.live[i] === 1 && o3 > this.sendOrder[i]!) {
        if (this.markLost(i, p)) out.newlyLost++;
      }
    }
    return newestSentAt;
  }

  markAllLost(): number {
    let n = 0;
    for (let s = this._oldestSeq; s !== this.sentEnd; s = (s + 1) & 0xffff) {
      const i = s & this.mask;
      if (this.live[i] === 1 && this.markLost(i, this.slots[i]!)) n++;
    }
    return n;
  }

  /**
   * Time-based loss (RACK, RFC 8985): every sent, unacked packet last transmitted before `sentAt`
   * is marked lost. The caller uses it when a packet sent at `sentAt` is known delivered while
   * older ones are not — after a tail-loss probe. Returns how many were newly marked.
   */
  markLostSentBefore(sentAt: number, retransmissionsOnly = false): number {
    let n = 0;
    const minTransmissions = retransmissionsOnly ? 2 : 1;
    for (let s = this._oldestSeq; s !== this.sentEnd; s = (s + 1) & 0xffff) {
      const i = s & this.mask;
      const p = this.slots[i]!;
      if (this.live[i] === 1 && p.sentAt < sentAt && p.transmissions >= minTransmissions && this.markLost(i, p)) n++;
    }
    return n;
  }

  nextResend(): OutPacket | undefined {
    if (this.resendCount === 0) return undefined;
    let s = this.cursorFrom(this.resendCursor);
    for (; s !== this._nextSeq; s = (s + 1) & 0xffff) {
      const i = s & this.mask;
      if (this.live[i] === 1 && this.slots[i]!.needResend) break;
    }
    this.resendCursor = s;
    return s === this._nextSeq ? undefined : this.slots[s & this.mask];
  }

  nextUnsent(): OutPacket | undefined {
    let s = this.cursorFrom(this.unsentCursor);
    for (; s !== this._nextSeq; s = (s + 1) & 0xffff) {
      const i = s & this.mask;
      if (this.live[i] === 1 && this.slots[i]!.transmissions === 0) break;
    }
    this.unsentCursor = s;
    return s === this._nextSeq ? undefined : this.slots[s & this.mask];
  }

  /** sentAt of the oldest packet still counted in flight (sent, unacked, not marked lost), or −1. */
  oldestInFlightSentAt(): number {
    if (this._packetsInFlight === 0) return -1;
    for (let s = this._oldestSeq; s !== this.sentEnd; s = (s + 1) & 0xffff) {
      const i = s & this.mask;
      if (this.inFlight[i] === 1) return this.slots[i]!.sentAt;
    }
    return -1;
  }

  oldestSentAt(): number {
    for (let s = this._oldestSeq; s !== this.sentEnd; s = (s + 1) & 0xffff) {
      const i = s & this.mask;
      const p = this.slots[i]!;
      if (this.live[i] === 1 && p.transmissions > 0) return p.sentAt;
    }
    return -1;
  }

  /**
   * The newest sent packet still unacked (live), or undefined: what a tail-loss probe resends. The
   * newest ones may have been SACKed already (a lost tail before a FIN that got through); the probe
   * then resends the newest hole. O(packets SACKed at the tail): called on a probe timeout only.
   */
  newestSent(): OutPacket | undefined {
    if (this._count === 0) return undefined;
    const span = (this.sentEnd - this._oldestSeq) & 0xffff;
    for (let k = 1; k <= span; k++) {
      const i = (this.sentEnd - k) & this.mask;
      if (this.live[i] === 1 && this.slots[i]!.transmissions > 0) return this.slots[i];
    }
    return undefined;
  }

  /** The latest transmission time among held packets, or −1. O(span): for rare paths only. */
  newestSentAt(): number {
    let t = -1;
    for (let s = this._oldestSeq; s !== this.sentEnd; s = (s + 1) & 0xffff) {
      const i = s & this.mask;
      const p = this.slots[i]!;
      if (this.live[i] === 1 && p.transmissions > 0 && p.sentAt > t) t = p.sentAt;
    }
    return t;
  }

  /** O(count): meant for the retransmission timeout, not for every packet. */
  maxTransmissions(): number {
    let max = 0;
    for (let s = this._oldestSeq; s !== this.sentEnd; s = (s + 1) & 0xffff) {
      const i = s & this.mask;
      const t = this.slots[i]!.transmissions;
      if (this.live[i] === 1 && t > max) max = t;
    }
    return max;
  }

  /**
   * Takes back every held packet, sent or not, so its bytes can be packetized again at another
   * size, and numbers the next packet oldestSeq again: the receiver must not have any of them,
   * which can only be so if none was acked, cumulatively or selectively (the caller has also made
   * sure none of them arrived: see ConnectionCore's black-hole handling). Returns copies of their
   * payloads in seq order, or undefined (nothing changed) when some packet in the span was acked.
   */
  rewind(): Uint8Array[] | undefined {
    const span = this.span();
    if (this._count !== span) return undefined;
    const parts: Uint8Array[] = [];
    for (let s = this._oldestSeq, n = 0; n < span; n++, s = (s + 1) & 0xffff) {
      const p = this.slots[s & this.mask] as OutPacket;
      const headerBytes = p.length - p.payloadLength;
      parts.push(p.buf.slice(headerBytes, p.length));
    }
    this.clear();
    const seq = this._oldestSeq - span;
    this._nextSeq = seq & 0xffff;
    this._oldestSeq = this._nextSeq;
    this.sentEnd = this._nextSeq;
    this.resendCursor = this._nextSeq;
    this.unsentCursor = this._nextSeq;
    return parts;
  }

  /** Drops every held packet; seq numbers carry on from nextSeq. */
  clear(): void {
    for (let s = this._oldestSeq; s !== this._nextSeq; s = (s + 1) & 0xffff) {
      this.live[s & this.mask] = 0;
      this.inFlight[s & this.mask] = 0;
    }
    this.emptyFrom(this._nextSeq);
    this._count = 0;
    this._bytesInFlight = 0;
    this._packetsInFlight = 0;
    this.resendCount = 0;
    this.dupAcks = 0;
  }

  /**
   * Makes the ring (INITIAL_SLOTS, or the capacity if smaller) or doubles it, moving the span
   * oldestSeq … nextSeq − 1 to its slots in the larger one.
   */
  private grow(): void {
    const size = this.mask < 0 ? Math.min(this.capacity, INITIAL_SLOTS) : (this.mask + 1) * 2;
    const mask = size - 1;
    const slots = new Array<OutPacket | undefined>(size).fill(undefined);
    const live = new Uint8Array(size);
    const inFlight = new Uint8Array(size);
    const flightBytes = new Float64Array(size);
    const sendOrder = new Float64Array(size);
    for (let s = this._oldestSeq; s !== this._nextSeq; s = (s + 1) & 0xffff) {
      const i = s & this.mask;
      const j = s & mask;
      slots[j] = this.slots[i];
      live[j] = this.live[i] as number;
      inFlight[j] = this.inFlight[i] as number;
      flightBytes[j] = this.flightBytes[i] as number;
      sendOrder[j] = this.sendOrder[i] as number;
    }
    this.slots = slots;
    this.live = live;
    this.inFlight = inFlight;
    this.flightBytes = flightBytes;
    this.sendOrder = sendOrder;
    this.mask = mask;
  }

  private span(): number {
    return (this._nextSeq - this._oldestSeq) & 0xffff;
  }

  private inSpan(seqNr: number): boolean {
    return ((seqNr - this._oldestSeq) & 0xffff) < this.span();
  }

  /** A scan cursor clamped into oldestSeq … nextSeq (acks may have left it behind the span). */
  private cursorFrom(s: number): number {
    return ((s - this._oldestSeq) & 0xffff) <= this.span() ? s : this._oldestSeq;
  }

  /** Marks a sent, in-flight packet lost; false if it was unsent or already marked. */
  private markLost(i: number, p: OutPacket): boolean {
    if (p.transmissions === 0 || p.needResend) return false;
    p.needResend = true;
    this.resendCount++;
    this.leaveFlight(i);
    // The cursor may lag behind oldestSeq; it only has to be a lower bound while anything needs resending.
    if (this.resendCount === 1 || seqDiff(p.seqNr, this.resendCursor) < 0) this.resendCursor = p.seqNr;
    return true;
  }

  private free(i: number, p: OutPacket): void {
    if (p.needResend) {
      p.needResend = false;
      this.resendCount--;
    }
    this.leaveFlight(i);
    this.live[i] = 0;
    this._count--;
  }

  private leaveFlight(i: number): void {
    if (this.inFlight[i] === 0) return;
    this.inFlight[i] = 0;
    this._bytesInFlight -= this.flightBytes[i]!;
    this._packetsInFlight--;
  }

  private advanceOldest(): void {
    let s = this._oldestSeq;
    while (s !== this._nextSeq && this.live[s & this.mask] === 0) s = (s + 1) & 0xffff;
    this._oldestSeq = s;
    if (this._count === 0) this.dupAcks = 0;
  }
}
