/**
 * A loss-based AIMD flow (NewReno flavour) over the simulator: the cross traffic a LEDBAT flow must yield
 * to. It is deliberately textbook — slow start, +1 packet per RTT in congestion avoidance, halve on three
 * duplicate acks with NewReno partial-ack recovery (RFC 6582), and on a retransmission timeout
 * (RFC 6298 estimator, 200 ms floor) cwnd 1 and go-back-N from the first unacknowledged packet.
 *
 * Packets (its own format, not uTP): byte 0 = type (1 data, 2 ack), bytes 1..4 = big-endian u32
 * (data: sequence number; ack: the next sequence number expected, i.e. a cumulative ack). Data packets
 * are `packetBytes` long (the last one of a finite transfer may be shorter), acks `ACK_BYTES`.
 * The receiver acks every data packet at once. Sequence numbers do not wrap: 2^32 packets is beyond
 * any simulated run.
 */
import type { TimerHandle } from '../core/timer-queue.js';
import type { SimNetwork, SimSocket } from './network.js';

export interface RenoFlowOptions {
  net: SimNetwork;
  /** Sender host. */
  from: string;
  /** Receiver host. */
  to: string;
  /** Receiver port; 0 or undefined picks a free one. */
  port?: number;
  /** Data packet size on the wire (UDP payload), header included. Default 1400. */
  packetBytes?: number;
  /** Application bytes to transfer; Infinity (default) = bulk, never finishes. */
  totalBytes?: number;
  /** Cap on cwnd, packets — the receive window; keeps an unconstrained path from growing cwnd forever. */
  maxCwndPackets?: number;
}

export interface RenoStats {
  bytesDelivered: number;
  cwndPackets: number;
  ssthreshPackets: number;
  /** In NewReno fast recovery (cwnd is inflated by duplicate acks then). */
  inRecovery: boolean;
  srttUs: number;
  rtoUs: number;
  packetsSent: number;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  /** Window reductions on three duplicate acks. */
  halvings: number;
  /** The last reduction on duplicate acks: the flight size that triggered it and the ssthresh it set. */
  lastHalving: { atUs: number; flightPackets: number; ssthreshPackets: number } | null;
  done: boolean;
  completedAtUs: number | null;
}

const TYPE_DATA = 1;
const TYPE_ACK = 2;
const HEADER_BYTES = 5;
/** An ack is about the size of a TCP/IP pure ack. */
const ACK_BYTES = 40;
const INITIAL_CWND = 2; // RFC 5681 IW for large segments (min of the allowed range)
const INITIAL_RTO_US = 1_000_000; // RFC 6298 (2.1) initial RTO
const MIN_RTO_US = 200_000; // Linux TCP_RTO_MIN
const MAX_RTO_US = 60_000_000; // RFC 6298 (2.5) upper bound
const DUP_ACK_THRESHOLD = 3; // RFC 5681 fast retransmit
const ABC_LIMIT = 2; // RFC 3465 L
const RTT_ALPHA = 1 / 8; // RFC 6298
const RTT_BETA = 1 / 4; // RFC 6298

export class RenoFlow {
  private readonly net: SimNetwork;
  private readonly tx: SimSocket;
  private readonly rx: SimSocket;
  private readonly packetBytes: number;
  private readonly payloadBytes: number;
  private readonly totalPackets: number;
  private readonly lastPayload: number;
  private readonly maxCwnd: number;
  private readonly sendBuf: Uint8Array;
  private readonly ackBuf = new Uint8Array(ACK_BYTES);

  // Sender.
  private running = false;
  private cwnd = INITIAL_CWND;
  private ssthresh = Number.POSITIVE_INFINITY;
  private nextSeq = 0;
  private sndUna = 0;
  private dupAcks = 0;
  private inRecovery = false;
  /** Highest sequence sent when the last loss episode began; dup acks at or below it start no new one. */
  private recover = -1;
  private partialAckSeen = false;
  private srtt = 0;
  private rttvar = 0;
  private rto = INITIAL_RTO_US;
  private timedSeq = -1;
  private timedAt = 0;
  /** The RTO deadline; the queued timer re-checks it when it fires, so re-arming on every ack is free. */
  private rtoDeadline = Number.POSITIVE_INFINITY;
  private rtoTimer: TimerHandle | undefined;
  private readonly onRtoTimer = () => this.rtoFired();
  private packetsSent = 0;
  private retransmits = 0;
  private fastRetransmits = 0;
  private timeouts = 0;
  private halvings = 0;
  private lastHalving: RenoStats['lastHalving'] = null;
  private completedAt: number | null = null;

  // Receiver.
  private expected = 0;
  private readonly outOfOrder = new Set<number>();
  private delivered = 0;

  constructor(opts: RenoFlowOptions) {
    this.net = opts.net;
    this.packetBytes = opts.packetBytes ?? 1400;
    if (!(this.packetBytes > HEADER_BYTES)) throw new RangeError(`packetBytes must exceed ${HEADER_BYTES}`);
    this.payloadBytes = this.packetBytes - HEADER_BYTES;
    const total = opts.totalBytes ?? Number.POSITIVE_INFINITY;
    this.totalPackets = Number.isFinite(total) ? Math.ceil(total / this.payloadBytes) : Number.POSITIVE_INFINITY;
    this.lastPayload = Number.isFinite(total) ? total - (this.totalPackets - 1) * this.payloadBytes : this.payloadBytes;
    this.maxCwnd = opts.maxCwndPackets ?? 4096;
    this.sendBuf = new Uint8Array(this.packetBytes);
    this.sendBuf[0] = TYPE_DATA;
    this.ackBuf[0] = TYPE_ACK;
    this.rx = this.net.bind(opts.to, opts.port ?? 0);
    this.tx = this.net.bind(opts.from, 0);
    this.rx.onMessage((buf, address, port) => this.onData(buf, address, port));
    this.tx.onMessage((buf) => this.onAck(buf));
  }

  /** Application bytes the receiver has in order. */
  get bytesDelivered(): number {
    return this.delivered;
  }

  get cwndPackets(): number {
    return this.cwnd;
  }

  /** Where the receiver listens. */
  get receiverPort(): number {
    return this.rx.port;
  }

  start(): void {
    if (this.running || this.tx.closed) return;
    this.running = true;
    this.trySend();
  }

  /** Stops sending and closes both sockets; packets still in flight arrive at closed ports. */
  stop(): void {
    this.running = false;
    this.net.timers.cancel(this.rtoTimer);
    this.rtoTimer = undefined;
    this.tx.close();
    this.rx.close();
  }

  stats(): RenoStats {
    return {
      bytesDelivered: this.delivered,
      cwndPackets: this.cwnd,
      ssthreshPackets: this.ssthresh,
      inRecovery: this.inRecovery,
      srttUs: this.srtt,
      rtoUs: this.rto,
      packetsSent: this.packetsSent,
      retransmits: this.retransmits,
      fastRetransmits: this.fastRetransmits,
      timeouts: this.timeouts,
      halvings: this.halvings,
      lastHalving: this.lastHalving,
      done: this.completedAt !== null,
      completedAtUs: this.completedAt,
    };
  }

  // --- receiver ---

  private onData(buf: Uint8Array, address: string, port: number): void {
    if (buf.length < HEADER_BYTES || buf[0] !== TYPE_DATA) return;
    const seq = readU32(buf, 1);
    if (seq === this.expected) {
      this.expected++;
      this.delivered += buf.length - HEADER_BYTES;
      while (this.outOfOrder.delete(this.expected)) {
        this.expected++;
        this.delivered += this.expected === this.totalPackets ? this.lastPayload : this.payloadBytes;
      }
    } else if (seq > this.expected) {
      this.outOfOrder.add(seq);
    }
    writeU32(this.ackBuf, 1, this.expected);
    if (!this.rx.closed) this.rx.send(this.ackBuf, 0, ACK_BYTES, port, address);
  }

  // --- sender ---

  private get flight(): number {
    return this.nextSeq - this.sndUna;
  }

  private onAck(buf: Uint8Array): void {
    if (!this.running || buf.length < HEADER_BYTES || buf[0] !== TYPE_ACK) return;
    const ack = readU32(buf, 1);
    const now = this.net.now();
    if (ack > this.sndUna) {
      const newly = ack - this.sndUna;
      this.sndUna = ack;
      // After go-back-N the receiver may already hold what we planned to resend.
      if (this.nextSeq < ack) this.nextSeq = ack;
      if (this.timedSeq >= 0 && ack > this.timedSeq) {
        this.rttSample(now - this.timedAt);
        this.timedSeq = -1;
      }
      this.dupAcks = 0;
      if (this.inRecovery) {
        if (ack > this.recover) {
          // Full ack: deflate to ssthresh (RFC 6582 3.2 step 3).
          this.inRecovery = false;
          this.cwnd = Math.min(this.ssthresh, Math.max(this.flight, 1) + 1);
          this.armRto(now);
        } else {
          // Partial ack: the next hole is lost too; resend it and stay in recovery.
          this.sendPacket(ack, now);
          this.retransmits++;
          this.cwnd = Math.max(this.cwnd - newly + 1, 1);
          // "Impatient" variant: only the first partial ack re-arms, so a burst of losses ends in a timeout.
          if (!this.partialAckSeen) this.armRto(now);
          this.partialAckSeen = true;
        }
      } else {
        // Appropriate byte counting (RFC 3465, L = 2): an ack that fills a hole and covers many packets must
        // not inflate the window by all of them at once.
        const credit = Math.min(newly, ABC_LIMIT);
        if (this.cwnd < this.ssthresh) this.cwnd += credit;
        else this.cwnd += credit / this.cwnd;
        if (this.cwnd > this.maxCwnd) this.cwnd = this.maxCwnd;
        this.armRto(now);
      }
      if (this.sndUna >= this.totalPackets) {
        this.completedAt = now;
        this.running = false;
        this.net.timers.cancel(this.rtoTimer);
        this.rtoTimer = undefined;
        return;
      }
    } else if (ack === this.sndUna && this.flight > 0) {
      this.dupAcks++;
      if (this.inRecovery) {
        this.cwnd += 1; // each dup ack means one packet left the network
      } else if (this.dupAcks === DUP_ACK_THRESHOLD && ack - 1 >= this.recover) {
        const flight = this.flight;
        this.ssthresh = Math.max(flight / 2, 2);
        this.cwnd = this.ssthresh + DUP_ACK_THRESHOLD;
        this.inRecovery = true;
        this.partialAckSeen = false;
        this.recover = this.nextSeq - 1;
        this.timedSeq = -1;
        this.halvings++;
        this.lastHalving = { atUs: now, flightPackets: flight, ssthreshPackets: this.ssthresh };
        this.sendPacket(ack, now);
        this.retransmits++;
        this.fastRetransmits++;
      }
    }
    this.trySend();
  }

  private trySend(): void {
    if (!this.running) return;
    const now = this.net.now();
    const limit = Math.floor(this.cwnd);
    while (this.flight < limit && this.nextSeq < this.totalPackets) {
      const seq = this.nextSeq++;
      if (seq <= this.recover) this.retransmits++;
      else if (this.timedSeq < 0) {
        this.timedSeq = seq;
        this.timedAt = now;
      }
      this.sendPacket(seq, now);
    }
    if (this.flight > 0 && this.rtoDeadline === Number.POSITIVE_INFINITY) this.armRto(now);
  }

  private sendPacket(seq: number, now: number): void {
    const len = seq === this.totalPackets - 1 ? HEADER_BYTES + this.lastPayload : this.packetBytes;
    writeU32(this.sendBuf, 1, seq);
    this.packetsSent++;
    this.tx.send(this.sendBuf, 0, len, this.rx.port, this.rx.address);
    if (this.rtoDeadline === Number.POSITIVE_INFINITY) this.armRto(now);
  }

  private rttSample(r: number): void {
    if (this.srtt === 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = (1 - RTT_BETA) * this.rttvar + RTT_BETA * Math.abs(this.srtt - r);
      this.srtt = (1 - RTT_ALPHA) * this.srtt + RTT_ALPHA * r;
    }
    this.rto = Math.min(Math.max(this.srtt + 4 * this.rttvar, MIN_RTO_US), MAX_RTO_US);
  }

  private armRto(now: number): void {
    this.rtoDeadline = this.flight > 0 ? now + this.rto : Number.POSITIVE_INFINITY;
    if (this.rtoDeadline === Number.POSITIVE_INFINITY) return;
    // Only an earlier deadline needs a new heap entry; a later one is picked up when the old timer fires.
    if (this.rtoTimer === undefined || this.rtoTimer.cancelled || this.rtoTimer.at > this.rtoDeadline) {
      this.net.timers.cancel(this.rtoTimer);
      this.rtoTimer = this.net.timers.schedule(this.rtoDeadline, this.onRtoTimer);
    }
  }

  private rtoFired(): void {
    this.rtoTimer = undefined;
    if (!this.running) return;
    const now = this.net.now();
    if (now < this.rtoDeadline) {
      if (this.rtoDeadline !== Number.POSITIVE_INFINITY) {
        this.rtoTimer = this.net.timers.schedule(this.rtoDeadline, this.onRtoTimer);
      }
      return;
    }
    if (this.flight === 0) {
      this.rtoDeadline = Number.POSITIVE_INFINITY;
      return;
    }
    this.timeouts++;
    this.ssthresh = Math.max(this.flight / 2, 2);
    this.cwnd = 1;
    this.inRecovery = false;
    this.dupAcks = 0;
    this.recover = Math.max(this.recover, this.nextSeq - 1);
    this.timedSeq = -1;
    this.rto = Math.min(this.rto * 2, MAX_RTO_US); // RFC 6298 (5.5) back off
    this.nextSeq = this.sndUna;
    this.rtoDeadline = Number.POSITIVE_INFINITY;
    this.trySend();
  }
}

function readU32(b: Uint8Array, o: number): number {
  return (
    (((b[o] as number) << 24) | ((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number)) >>> 0
  );
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
