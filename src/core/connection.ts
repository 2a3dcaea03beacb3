/**
 * The per-connection protocol core: everything that happens per packet, with no XState, sockets or
 * clocks. Bytes come in through `handlePacket(buf, layout, now)`, timers through
 * `handleTimeout(now)`, outgoing datagrams leave through `hooks.transmit`, and the few events that
 * change the connection's lifecycle (handshake done, FIN seen, reset, retransmission timeouts) are
 * raised through `hooks.lifecycle` for the statechart to decide on. The chart in turn calls the
 * commands here (`sendSyn`, `acceptSyn`, `queueFin`, `sendReset`, …) by name.
 *
 * Data and acks never go through the chart: see docs/design.md for the measured reason.
 */
import { createLayout, type PacketLayout, scanPacket } from '../wire/codec.js';
import {
  EXT_BITS,
  EXT_BITS_LARGE_DATAGRAMS_BYTE,
  EXT_BITS_LARGE_DATAGRAMS_MASK,
  EXT_BITS_LENGTH,
  EXT_NONE,
  EXT_PADDING,
  EXT_SACK,
  HEADER_SIZE,
  PLAIN_DATAGRAM_MAX,
  ST_DATA,
  ST_FIN,
  ST_RESET,
  ST_STATE,
  ST_SYN,
  UTP_VERSION,
} from '../wire/constants.js';
import { PacketHeader } from '../wire/header.js';
import { seqAdd, seqDiff, seqGte, ts32, tsDiff } from '../wire/seq.js';
import { Ledbat, type LedbatOptions } from './ledbat.js';
import { MTU_CEILING_DEFAULT, MTU_FLOOR_DEFAULT, MtuSearch } from './mtu.js';
import { ReorderBuffer } from './reorder-buffer.js';
import { RttEstimator } from './rtt.js';
import { forEachSacked } from './sack.js';
import { type AckResult, createAckResult, type OutPacket, SendBuffer } from './send-buffer.js';

/** Lifecycle events the core raises for the statechart. */
export type CoreEvent =
  | { readonly type: 'SYN_ACKED' }
  | { readonly type: 'PEER_ACKED' }
  | { readonly type: 'FIN_RECEIVED' }
  | { readonly type: 'EOF_DELIVERED' }
  | { readonly type: 'FIN_ACKED' }
  | { readonly type: 'RESET_RECEIVED' }
  | { readonly type: 'RTO_FIRED'; readonly count: number };

/** BEP 29 packet type names, as traces show them. */
export type PacketTypeName = 'DATA' | 'FIN' | 'STATE' | 'RESET' | 'SYN';
const TYPE_NAMES: readonly PacketTypeName[] = ['DATA', 'FIN', 'STATE', 'RESET', 'SYN'];

/** One packet in or out, as the `trace` hook sees it. */
export interface TraceRecord {
  readonly kind: 'packet';
  readonly dir: 'in' | 'out';
  /** µs, the core's clock. */
  readonly at: number;
  readonly type: PacketTypeName;
  readonly connectionId: number;
  readonly seqNr: number;
  readonly ackNr: number;
  readonly windowSize: number;
  /** Datagram bytes (header, extensions and payload). */
  readonly length: number;
  /** Payload bytes. */
  readonly payload: number;
  /** Sequence numbers the packet's SACK extension reports received (beyond ack_nr + 1), if it has one. */
  readonly sack?: readonly number[];
  readonly retransmit: boolean;
}

export interface ConnectionHooks {
  /**
   * Send one datagram to the peer. Returns true when the transport still holds `buf` by reference
   * after returning (Node's dgram queues a datagram it could not hand to the kernel at once): the
   * core then never writes into that buffer again.
   */
  transmit(buf: Uint8Array, length: number): unknown;
  /** In-order payload for the application; the view stays valid (it is never written again). */
  deliver(payload: Uint8Array): void;
  lifecycle(event: CoreEvent): void;
  /** The send queue drained below its limit: writers blocked on it may go on. */
  writable(): void;
  /** Bytes delivered to the application and not read yet; they shrink the advertised window. */
  unreadBytes(): number;
  /** Ask the owner to call `flush(now)` soon (after the current batch of input). */
  needFlush(): void;
  /** Called with every packet in and out, when set. */
  trace?: ((record: TraceRecord) => void) | undefined;
}

export interface ConnectionOptions {
  /** Receive buffer: the most bytes buffered for the application before the advertised window is 0. */
  recvWindowBytes?: number;
  /** Unsent bytes the core holds before `write` reports it is full. */
  sendQueueBytes?: number;
  /** Packets the send buffer holds (libutp OUTGOING_BUFFER_MAX_SIZE 1024). Power of two. */
  sendBufferPackets?: number;
  /**
   * Most packets held for reordering (power of two ≤ 32768). The buffer starts small and grows on
   * demand up to this; the default covers any window a 16-bit sequence space allows, so a sender
   * that honours our window never has packets dropped as too far ahead (libutp: 1024).
   */
  reorderPackets?: number;
  /**
   * uTP datagram sizes for path MTU discovery (header + payload, no IP/UDP headers). Above
   * PLAIN_DATAGRAM_MAX (1472) only towards a peer that announced large datagrams in the handshake.
   */
  mtuFloor?: number;
  mtuCeiling?: number;
  /** Datagram size to start at, before any probe passed (defaults to the floor). */
  packetSize?: number;
  /** Consecutive retransmission timeouts survived; the next one kills the connection (libutp: 4). */
  maxRetransmits?: number;
  minRtoUs?: number;
  maxRtoUs?: number;
  initialRtoUs?: number;
  ledbat?: LedbatOptions;
  /** Longest wait between zero-window probes. libutp: 15 s. */
  zeroWindowProbeMaxUs?: number;
}

export interface ConnectionStats {
  cwnd: number;
  peerWindow: number;
  recvWindow: number;
  srttUs: number;
  rttvarUs: number;
  rtoUs: number;
  baseDelayUs: number;
  queuingDelayUs: number;
  bytesInFlight: number;
  packetsInFlight: number;
  packetSize: number;
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Payload bytes the peer acknowledged (cumulatively or selectively). */
  bytesAcked: number;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  duplicates: number;
  outOfOrder: number;
  invalidAcks: number;
  zeroWindowProbes: number;
  tailProbes: number;
  mtuProbes: number;
  mtuProbesLost: number;
}

/** 4 MiB, like the top of Linux's TCP receive-buffer autotuning; 1 MiB held loopback to ~430 MB/s. */
export const DEFAULT_RECV_WINDOW = 4 << 20;
/** Unsent bytes buffered in the core before `write` says it is full. */
export const DEFAULT_SEND_QUEUE = 1 << 20;

/** libutp: uTP header size plus the largest SACK we write (REORDER_BUFFER_MAX_SIZE / 8 bytes). */
const MAX_SACK_BYTES = 128;
/** libutp ZEROWINDOW probe: after 15 s of a zero window, send one packet anyway. We start sooner and back off to it. */
const ZERO_WINDOW_PROBE_MIN_US = 500_000;
/** Floor of the tail-loss probe delay (RFC 8985's TLP uses 2·SRTT; a floor keeps loopback from probing needlessly). */
const TAIL_PROBE_MIN_US = 10_000;
/**
 * SYN-ACK resends while an acceptor holds data for an initiator it has not heard from (the
 * initiator's ack of the SYN-ACK was lost). Bounded, since the SYN may be spoofed.
 */
const SYN_ACK_RESENDS = 3;

const EMPTY = new Uint8Array(0);

export type Role = 'initiator' | 'acceptor';

export class ConnectionCore {
  readonly role: Role;
  recvId = 0;
  sendId = 0;
  readonly ledbat: Ledbat;
  readonly rtt: RttEstimator;
  readonly mtu: MtuSearch;
  private sb: SendBuffer;
  private readonly reorder: ReorderBuffer;
  private readonly hooks: ConnectionHooks;
  private readonly ack: AckResult = createAckResult();
  private readonly rx = new PacketHeader(EMPTY);
  private readonly tx = new PacketHeader(EMPTY);
  private readonly recvWindowBytes: number;
  private readonly sendQueueBytes: number;
  private readonly maxRetransmits: number;
  private readonly zeroWindowProbeMaxUs: number;
  private readonly sendBufferPackets: number;
  /** The configured ceiling, reachable once the peer says it takes datagrams over PLAIN_DATAGRAM_MAX. */
  private readonly largeCeiling: number;
  /** The peer announced it reads datagrams up to 64 KiB whole (see EXT_BITS_LARGE_DATAGRAMS_MASK). */
  peerTakesLargeDatagrams = false;

  // Handshake.
  /** seq_nr of our SYN (initiator) or of our SYN-ACK (acceptor). */
  private synSeq = 0;
  private synSentAt = 0;
  private synSends = 0;
  /** The data path runs once the handshake is known to be done on our side. */
  private established = false;
  /**
   * Acceptor: the initiator has sent something since its SYN, so it has our SYN-ACK and knows
   * where our stream starts. No DATA or FIN goes out before that (see `flushData`).
   */
  private peerHeard = false;
  /** Acceptor, not heard from yet, with data waiting: when to send the SYN-ACK again. */
  private synAckDeadline = 0;

  // Send side.
  private readonly queue: Uint8Array[] = [];
  private queueHead = 0;
  private queueOffset = 0;
  private queuedBytes = 0;
  private writeBlocked = false;
  private finQueued = false;
  /** seq_nr of our FIN once it is in the send buffer, or −1. */
  finSeq = -1;
  finAcked = false;
  peerWindow = 0;
  private replyMicro = 0;
  private retransmitCount = 0;
  private rtoDeadline = 0;
  /** Tail-loss probe: when the last packets of a burst vanish, no duplicate ack will ever report it. */
  private tlpDeadline = 0;
  private tlpArmed = true;
  /** The packet a tail probe resent, and when: once it is acked, what was sent before it and is missing is lost. */
  private tlpSeq = -1;
  private tlpSentAt = 0;
  private zeroWindowDeadline = 0;
  private zeroWindowBackoff = 0;
  private ackPending = false;
  private lastAdvertised = 0;
  lastSentAt = 0;
  lastReceivedAt = 0;

  // Receive side.
  /** seq_nr of the peer's FIN, or −1. */
  eofSeq = -1;
  eofDelivered = false;

  closed = false;

  private readonly s = {
    packetsSent: 0,
    packetsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    bytesAcked: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    invalidAcks: 0,
    zeroWindowProbes: 0,
    tailProbes: 0,
  };

  constructor(role: Role, hooks: ConnectionHooks, opts: ConnectionOptions = {}) {
    this.role = role;
    this.hooks = hooks;
    this.recvWindowBytes = opts.recvWindowBytes ?? DEFAULT_RECV_WINDOW;
    this.sendQueueBytes = opts.sendQueueBytes ?? DEFAULT_SEND_QUEUE;
    this.maxRetransmits = opts.maxRetransmits ?? 4;
    this.zeroWindowProbeMaxUs = opts.zeroWindowProbeMaxUs ?? 15_000_000;
    const floor = opts.mtuFloor ?? MTU_FLOOR_DEFAULT;
    this.largeCeiling = opts.mtuCeiling ?? MTU_CEILING_DEFAULT;
    const ceiling = Math.min(this.largeCeiling, PLAIN_DATAGRAM_MAX);
    this.mtu = new MtuSearch({ floor, ceiling, initial: Math.min(opts.packetSize ?? floor, ceiling) });
    this.ledbat = new Ledbat({ packetSize: this.mtu.current - HEADER_SIZE, ...opts.ledbat });
    const rttOpts: { initialRtoUs?: number; minRtoUs?: number; maxRtoUs?: number } = {};
    if (opts.initialRtoUs !== undefined) rttOpts.initialRtoUs = opts.initialRtoUs;
    if (opts.minRtoUs !== undefined) rttOpts.minRtoUs = opts.minRtoUs;
    if (opts.maxRtoUs !== undefined) rttOpts.maxRtoUs = opts.maxRtoUs;
    this.rtt = new RttEstimator(rttOpts);
    this.sendBufferPackets = opts.sendBufferPackets ?? 1024;
    this.sb = new SendBuffer({ capacity: this.sendBufferPackets, packetBytes: this.mtu.current, initialSeq: 0 });
    this.reorder = new ReorderBuffer({ capacity: opts.reorderPackets ?? reorderCapacityFor(this.recvWindowBytes) });
  }

  // ---------------------------------------------------------------- commands the chart calls

  /**
   * Initiator: the id we receive on (the endpoint picks one no other connection to this peer
   * uses); we send with id + 1 (BEP 29).
   */
  assignIds(recvId: number): void {
    this.recvId = recvId & 0xffff;
    this.sendId = seqAdd(this.recvId, 1);
  }

  /** Initiator: send the SYN (again, on a retry: same seq_nr, as libutp; `initialSeq` is used the first time). */
  sendSyn(now: number, initialSeq: number): void {
    if (this.synSends === 0) {
      this.synSeq = initialSeq & 0xffff;
      this.sb = new SendBuffer({
        capacity: this.sendBufferPackets,
        packetBytes: this.mtu.current,
        initialSeq: seqAdd(this.synSeq, 1),
      });
    }
    const buf = new Uint8Array(HEADER_SIZE + 2 + EXT_BITS_LENGTH);
    // BEP 29: a SYN carries the id the initiator will receive on, not the one it sends with.
    this.writeHeader(buf, ST_SYN, this.recvId, now, this.synSeq, 0);
    writeLargeDatagramsBit(buf, this.tx);
    this.synSentAt = now;
    this.synSends++;
    this.emit(buf, buf.length, now, false);
  }

  /** Acceptor: take the SYN's ids and sequence number and answer with a STATE (the SYN-ACK). */
  acceptSyn(now: number, syn: Uint8Array, initialSeq: number): void {
    this.notePeerExtensions(syn);
    const h = this.rx.reset(syn);
    this.sendId = h.connectionId;
    this.recvId = seqAdd(h.connectionId, 1);
    // The SYN never passes through handlePacket: traced here, once the connection has its ids.
    if (this.hooks.trace) this.traceRecord('in', syn, syn.length, now, false);
    this.peerWindow = h.windowSize;
    this.reorder.init(h.seqNr);
    this.sb = new SendBuffer({
      capacity: this.sendBufferPackets,
      packetBytes: this.mtu.current,
      initialSeq: initialSeq & 0xffff,
    });
    this.established = true;
    this.lastReceivedAt = now;
    if (h.timestamp !== 0) this.replyMicro = tsDiff(ts32(now), h.timestamp);
    this.synSeq = initialSeq & 0xffff;
    this.sendSynAck(now);
  }

  /**
   * The SYN-ACK is a STATE carrying our extension bits; its send time gives the acceptor an RTT
   * sample when the initiator acks it at once.
   */
  private sendSynAck(now: number): void {
    this.synSentAt = now;
    this.synSends++;
    this.ackPending = false;
    const buf = new Uint8Array(HEADER_SIZE + 2 + EXT_BITS_LENGTH);
    this.writeHeader(buf, ST_STATE, this.sendId, now, this.sb.nextSeq, this.reorder.ackNr);
    writeLargeDatagramsBit(buf, this.tx);
    this.emit(buf, buf.length, now, false);
  }

  /** A SYN or SYN-ACK that says the peer reads large datagrams lets path MTU discovery go above 1,472 bytes. */
  private notePeerExtensions(buf: Uint8Array, layout?: PacketLayout): void {
    let at = layout?.extBitsOffset ?? -1;
    if (layout === undefined) {
      const l = createLayout();
      if (scanPacket(buf, l) !== null) return;
      at = l.extBitsOffset;
    }
    if (at < 0 || ((buf[at + EXT_BITS_LARGE_DATAGRAMS_BYTE] ?? 0) & EXT_BITS_LARGE_DATAGRAMS_MASK) === 0) return;
    this.peerTakesLargeDatagrams = true;
    this.mtu.raiseCeiling(this.largeCeiling);
  }

  /** The connection may carry data from now on (initiator: SYN acked). */
  get isEstablished(): boolean {
    return this.established;
  }

  /** Last seq_nr received in order (what our acks carry). */
  get ackNr(): number {
    return this.reorder.ackNr;
  }

  /** seq_nr our next packet will carry. */
  get nextSeqNr(): number {
    return this.sb.nextSeq;
  }

  get synSeqNr(): number {
    return this.synSeq;
  }

  /** Send FIN after every byte queued so far. */
  queueFin(): void {
    if (this.finQueued) return;
    this.finQueued = true;
    this.hooks.needFlush();
  }

  /** Best-effort FIN for a socket destroyed or dropped without end(): one try, no retransmission. */
  sendFinOnce(now: number): void {
    if (!this.established || this.finSeq >= 0) return;
    this.writeControl(ST_FIN, now, this.sb.nextSeq);
  }

  /** RST: the peer should forget this connection. */
  sendReset(now: number): void {
    if (this.sendId === 0 && this.recvId === 0) return;
    this.writeControl(ST_RESET, now, this.sb.nextSeq);
  }

  /** Keepalive: a STATE when nothing went out for a while, so NATs keep the mapping (libutp KEEPALIVE_INTERVAL). */
  sendKeepalive(now: number): void {
    if (!this.established) return;
    this.sendState(now);
  }

  /**
   * Stop everything: the chart reached a final state. An ack still owed goes out first — the
   * peer's FIN is often the packet that completed the close, and it must hear that it arrived —
   * unless the connection ended abnormally (after a RST there is nobody to ack).
   */
  close(now: number, sendOwedAck = true): void {
    if (this.closed) return;
    if (sendOwedAck && this.ackPending && this.established) this.sendState(now);
    this.closed = true;
    this.rtoDeadline = 0;
    this.zeroWindowDeadline = 0;
    this.tlpDeadline = 0;
    this.synAckDeadline = 0;
    this.queue.length = 0;
    this.queueHead = 0;
    this.queuedBytes = 0;
  }

  // ---------------------------------------------------------------- application side

  /** Queue bytes to send. Returns false when the queue is over its limit (wait for `writable`). */
  write(chunk: Uint8Array): boolean {
    if (this.closed || this.finQueued) return false;
    if (chunk.length > 0) {
      this.queue.push(chunk);
      this.queuedBytes += chunk.length;
      this.hooks.needFlush();
    }
    const ok = this.queuedBytes < this.sendQueueBytes;
    if (!ok) this.writeBlocked = true;
    return ok;
  }

  /** Everything written, including a queued FIN, has been acknowledged. */
  get allAcked(): boolean {
    return this.queuedBytes === 0 && this.sb.count === 0;
  }

  /** The application read some of what was delivered: reopen the window if we had closed it. */
  onRead(): void {
    if (this.closed || !this.established) return;
    const packet = this.mtu.current - HEADER_SIZE;
    if (this.lastAdvertised < packet && this.recvWindow() >= packet) {
      this.ackPending = true;
      this.hooks.needFlush();
    }
  }

  // ---------------------------------------------------------------- input

  /**
   * One datagram from the peer whose ids matched. `layout` is the result of `scanPacket` on it
   * (the demultiplexer has validated the datagram already).
   */
  handlePacket(buf: Uint8Array, layout: PacketLayout, now: number): void {
    if (this.closed) return;
    const h = this.rx.reset(buf);
    const type = h.type;
    this.s.packetsReceived++;
    this.lastReceivedAt = now;
    if (this.hooks.trace) this.traceRecord('in', buf, buf.length, now, false);

    if (type === ST_RESET) {
      this.hooks.lifecycle({ type: 'RESET_RECEIVED' });
      return;
    }
    if (type === ST_SYN) {
      // Our SYN-ACK was lost and the initiator retried: answer again.
      if (this.role === 'acceptor' && seqAdd(h.seqNr, 0) === this.reorder.ackNr) this.sendSynAck(now);
      return;
    }
    if (!this.established) {
      // Initiator waiting for the SYN-ACK: a STATE acking our SYN. Its seq_nr is where the
      // acceptor's stream starts — an acceptor sends no DATA before it hears from us, so nothing
      // before that seq_nr exists. A DATA here would come from a peer that wrote before the
      // handshake completed; taking its seq_nr as the start could skip earlier lost packets, so it
      // is ignored (it will be retransmitted).
      if (this.role !== 'initiator' || this.recvId === 0 || h.ackNr !== this.synSeq || type !== ST_STATE) return;
      this.reorder.init(seqAdd(h.seqNr, -1));
      this.notePeerExtensions(buf, layout);
      this.established = true;
      this.peerWindow = h.windowSize;
      // The handshake is the first RTT sample, when the SYN went out once (Karn).
      if (this.synSends === 1) this.rtt.onSample(now - this.synSentAt);
      // Ack the SYN-ACK at once, so the acceptor learns the handshake completed even before we have
      // data (a libutp acceptor ignores it; a utpx one leaves synReceived).
      this.ackPending = true;
      this.hooks.needFlush();
      this.hooks.lifecycle({ type: 'SYN_ACKED' });
      if (this.closed) return;
    }

    const payloadLength = buf.length - layout.payloadOffset;
    const sack =
      layout.sackOffset >= 0 ? buf.subarray(layout.sackOffset, layout.sackOffset + layout.sackLength) : undefined;
    const flightBefore = this.sb.bytesInFlight;
    const ack = this.ack;
    this.sb.onAck(h.ackNr, sack, now, type === ST_STATE && payloadLength === 0, ack);
    if (ack.invalid) {
      // libutp drops a packet whose ack_nr acknowledges what was never sent, or lies far behind
      // what was acked: spoofed or broken. Nothing of it counts, its delay sample included.
      this.s.invalidAcks++;
      return;
    }
    const ts = h.timestamp;
    const theirDelay = ts === 0 ? 0 : tsDiff(ts32(now), ts);
    this.replyMicro = theirDelay;
    this.ledbat.onDelaySample(now, h.timestampDiff, theirDelay);
    this.peerWindow = h.windowSize;
    // Initiator: a SYN-ACK again, though we completed the handshake: the acceptor has not heard our
    // ack of it (lost) and holds data for us until it does. Ack it again.
    if (
      this.role === 'initiator' &&
      type === ST_STATE &&
      h.ackNr === this.synSeq &&
      h.seqNr === seqAdd(this.reorder.ackNr, 1) &&
      this.reorder.bufferedCount === 0
    ) {
      this.ackPending = true;
    }
    if (!this.peerHeard) {
      this.peerHeard = true;
      // A utpx initiator acks the SYN-ACK at once with a bare STATE (ack_nr = SYN-ACK seq − 1): the
      // acceptor's first RTT sample (Karn: only if the SYN-ACK went out once). libutp initiators
      // send no such packet (their first is DATA, or a keepalive acking seq − 2), so no false sample.
      if (
        this.role === 'acceptor' &&
        type === ST_STATE &&
        payloadLength === 0 &&
        this.synSends === 1 &&
        h.ackNr === seqAdd(this.synSeq, -1)
      ) {
        this.rtt.onSample(now - this.synSentAt);
      }
      if (this.role === 'acceptor') {
        this.synAckDeadline = 0;
        // Data and a FIN that waited for the initiator may go now.
        if (this.queuedBytes > 0 || this.finQueued) this.hooks.needFlush();
        this.hooks.lifecycle({ type: 'PEER_ACKED' });
      }
      if (this.closed) return;
    }
    if (ack.ackedPackets > 0) this.onAcked(now, flightBefore);
    if (this.tlpSeq >= 0 && ack.ackedPackets > 0 && this.sb.get(this.tlpSeq) === undefined) {
      // The probe got through: anything sent before it and still missing was lost, not delayed.
      this.tlpSeq = -1;
      ack.newlyLost += this.sb.markLostSentBefore(this.tlpSentAt);
    }
    if (ack.newlyLost > 0) {
      this.s.fastRetransmits += ack.newlyLost;
      // A lost MTU probe alone says the packet was too big, not that the path is congested.
      if (!(ack.newlyLost === 1 && this.probeLost())) this.ledbat.onLoss(now);
    }
    this.checkProbe(now);
    if (this.peerWindow > 0) {
      this.zeroWindowDeadline = 0;
      this.zeroWindowBackoff = 0;
    }
    if (this.finSeq >= 0 && !this.finAcked && seqGte(h.ackNr, this.finSeq)) {
      this.finAcked = true;
      this.hooks.lifecycle({ type: 'FIN_ACKED' });
      if (this.closed) return;
    }

    if (type === ST_DATA || type === ST_FIN) {
      this.onData(h.seqNr, type === ST_FIN, buf, layout.payloadOffset, payloadLength);
    }
    if (ack.ackedPackets > 0 || ack.newlyLost > 0 || this.ackPending || this.queuedBytes > 0) this.hooks.needFlush();
  }

  private onAcked(now: number, flightBefore: number): void {
    const ack = this.ack;
    this.s.bytesAcked += ack.ackedBytes;
    if (ack.rttSampleUs >= 0) this.rtt.onSample(ack.rttSampleUs);
    // libutp caps the delay estimate by the smallest RTT among the packets this ack covers.
    this.ledbat.onAck(now, ack.ackedBytes, flightBefore, ack.minRttUs >= 0 ? ack.minRttUs : Number.POSITIVE_INFINITY);
    this.retransmitCount = 0;
    this.rtoDeadline = this.sb.packetsInFlight > 0 ? now + this.rtt.rtoUs : 0;
    this.tlpArmed = true;
    this.tlpDeadline = this.sb.packetsInFlight > 0 ? now + this.tailProbeDelay() : 0;
  }

  private onData(seq: number, isFin: boolean, buf: Uint8Array, offset: number, length: number): void {
    this.ackPending = true;
    if (this.eofSeq >= 0 && seqDiff(seq, this.eofSeq) > 0) return; // nothing exists past the FIN
    const payload = length > 0 ? buf.subarray(offset, offset + length) : EMPTY;
    const r = this.reorder.receive(seq, payload);
    // A FIN counts only where a packet of this stream can be: not at a seq already delivered (a
    // stale FIN would end the stream early) and not beyond the reorder window (one far ahead would
    // wait forever for data that never comes).
    if (r === 'duplicate' || r === 'too-far') return;
    if (isFin && this.eofSeq < 0) {
      this.eofSeq = seq;
      this.hooks.lifecycle({ type: 'FIN_RECEIVED' });
      if (this.closed) return;
    }
    if (r !== 'in-order') return;
    if (length > 0) this.deliver(payload);
    for (let next = this.reorder.shift(); next !== undefined; next = this.reorder.shift()) {
      if (next.length > 0) this.deliver(next);
    }
    if (this.eofSeq >= 0 && !this.eofDelivered && seqDiff(this.reorder.ackNr, this.eofSeq) >= 0) {
      this.eofDelivered = true;
      this.hooks.lifecycle({ type: 'EOF_DELIVERED' });
    }
  }

  private deliver(payload: Uint8Array): void {
    this.s.bytesReceived += payload.length;
    this.hooks.deliver(payload);
  }

  // ---------------------------------------------------------------- output

  /** Send what the windows allow, then an ack if one is owed and no data packet carried it. */
  flush(now: number): void {
    if (this.closed || !this.established) return;
    this.flushData(now);
    if (this.ackPending) this.sendState(now);
    if (this.writeBlocked && this.queuedBytes < this.sendQueueBytes) {
      this.writeBlocked = false;
      this.hooks.writable();
    }
  }

  private sendWindow(): number {
    return this.ledbat.sendWindow(this.peerWindow);
  }

  private flushData(now: number): void {
    const sb = this.sb;
    if (this.role === 'acceptor' && !this.peerHeard) {
      // Nothing but the SYN-ACK until the initiator is heard from: if the SYN-ACK were lost, a DATA
      // arriving first would be taken (by libutp) as the start of our stream, and the packets before
      // it would be skipped — bytes missing from a stream that ends cleanly. Queued data waits; the
      // SYN-ACK is sent again in case the initiator's ack of it was lost.
      if ((this.queuedBytes > 0 || this.finQueued) && this.synAckDeadline === 0 && this.synSends <= SYN_ACK_RESENDS) {
        this.synAckDeadline = now + this.rtt.rtoUs * 2 ** (this.synSends - 1);
      }
      return;
    }
    // Lost packets go first: they hold up the receiver's in-order delivery.
    for (let p = sb.nextResend(); p !== undefined; p = sb.nextResend()) {
      if (sb.bytesInFlight > 0 && sb.bytesInFlight + p.payloadLength > this.sendWindow()) return;
      this.s.retransmits++;
      this.sendPacket(p, now, true);
    }
    for (let p = sb.nextUnsent(); p !== undefined; p = sb.nextUnsent()) {
      if (sb.bytesInFlight > 0 && sb.bytesInFlight + p.payloadLength > this.sendWindow()) return;
      this.sendPacket(p, now, false);
    }
    const maxPayload = this.mtu.current - HEADER_SIZE;
    while (this.queuedBytes > 0 && !sb.full) {
      const n = Math.min(this.queuedBytes, maxPayload);
      const window = this.sendWindow();
      if (this.peerWindow === 0 && sb.bytesInFlight === 0) {
        this.armZeroWindowProbe(now);
        return;
      }
      if (sb.bytesInFlight > 0 && sb.bytesInFlight + n > window) return;
      const p = sb.allocate(n);
      this.fillHeader(p.buf, ST_DATA, p.seqNr);
      this.dequeueInto(p.buf, HEADER_SIZE, n);
      p.length = HEADER_SIZE + n;
      this.sendPacket(p, now, false);
    }
    if (this.queuedBytes === 0 && this.finQueued && this.finSeq < 0 && !sb.full) {
      const p = sb.allocate(0);
      this.fillHeader(p.buf, ST_FIN, p.seqNr);
      p.length = HEADER_SIZE;
      this.finSeq = p.seqNr;
      this.sendPacket(p, now, false);
    }
  }

  private fillHeader(buf: Uint8Array, type: number, seq: number): void {
    const h = this.tx.reset(buf);
    h.type = type;
    h.version = UTP_VERSION;
    h.extension = EXT_NONE;
    h.connectionId = this.sendId;
    h.seqNr = seq;
  }

  /** Copy `n` queued bytes into `dst` at `at`, releasing consumed chunks. */
  private dequeueInto(dst: Uint8Array, at: number, n: number): void {
    const q = this.queue;
    while (n > 0) {
      const chunk = q[this.queueHead] as Uint8Array;
      const avail = chunk.length - this.queueOffset;
      const take = Math.min(avail, n);
      dst.set(take === chunk.length ? chunk : chunk.subarray(this.queueOffset, this.queueOffset + take), at);
      at += take;
      n -= take;
      this.queuedBytes -= take;
      this.queueOffset += take;
      if (this.queueOffset === chunk.length) {
        q[this.queueHead] = EMPTY;
        this.queueHead++;
        this.queueOffset = 0;
      }
    }
    // Compact rarely, so the head index does not make the array grow without bound.
    if (this.queueHead > 1024 && this.queueHead * 2 > q.length) {
      q.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    if (this.queueHead === q.length) {
      q.length = 0;
      this.queueHead = 0;
    }
  }

  /** Stamp the fields that change per transmission and send a packet from the send buffer. */
  private sendPacket(p: OutPacket, now: number, retransmit: boolean): void {
    const h = this.tx.reset(p.buf);
    h.timestamp = ts32(now);
    h.timestampDiff = this.replyMicro;
    h.windowSize = this.advertise();
    h.ackNr = this.reorder.ackNr;
    let probe = 0;
    // Probe only once the RTT is known: a lost probe is found by its timeout at worst, and the initial
    // RTO (3 s) would stall a connection whose very first packet was a probe too big for the path.
    if (!retransmit && p.transmissions === 0 && p.payloadLength > 0 && this.rtt.hasSample) {
      probe = this.mtu.nextProbe(now);
    }
    // The padding needs the 10-byte extension-bits header, and no single leftover byte.
    if (probe - p.length === 2 + EXT_BITS_LENGTH + 1) probe--;
    if (probe >= p.length + 2 + EXT_BITS_LENGTH) {
      this.mtu.onProbeSent(p.seqNr, probe);
      this.emit(this.padded(p, probe), probe, now, false);
    } else if (this.emit(p.buf, p.length, now, retransmit)) {
      // The transport queued the slot's buffer by reference: the slot continues in a copy, so a
      // retransmission (or the next packet in this slot) cannot rewrite the queued datagram.
      p.buf = p.buf.slice();
    }
    this.sb.onSent(p, now);
    this.ackPending = false;
    if (this.rtoDeadline === 0) this.rtoDeadline = now + this.rtt.rtoUs;
    if (this.tlpArmed) this.tlpDeadline = now + this.tailProbeDelay();
  }

  /**
   * A copy of the packet padded with extensions to `size` bytes. libutp drops a packet whose first
   * extension type is 3 or more, so the chain starts with type 2 ("extension bits", 8 zero bytes,
   * which libutp accepts) and goes on with padding extensions every receiver skips.
   */
  private padded(p: OutPacket, size: number): Uint8Array {
    const out = new Uint8Array(size);
    out.set(p.buf.subarray(0, HEADER_SIZE), 0);
    new PacketHeader(out).extension = EXT_BITS;
    let pad = size - p.length - (2 + EXT_BITS_LENGTH);
    out[HEADER_SIZE] = pad > 0 ? EXT_PADDING : EXT_NONE;
    out[HEADER_SIZE + 1] = EXT_BITS_LENGTH;
    let at = HEADER_SIZE + 2 + EXT_BITS_LENGTH;
    while (pad > 0) {
      // Each piece is 2 + up to 255 bytes; never leave a single byte no piece could hold.
      let len = Math.min(pad - 2, 255);
      if (pad - 2 - len === 1) len--;
      pad -= len + 2;
      out[at] = pad > 0 ? EXT_PADDING : EXT_NONE;
      out[at + 1] = len;
      at += 2 + len;
    }
    out.set(p.buf.subarray(HEADER_SIZE, p.length), at);
    return out;
  }

  private probeLost(): boolean {
    const seq = this.mtu.probeSeq;
    return seq >= 0 && this.sb.get(seq)?.needResend === true;
  }

  private checkProbe(now: number): void {
    const seq = this.mtu.probeSeq;
    if (seq < 0) return;
    const p = this.sb.get(seq);
    if (p === undefined) {
      this.mtu.onProbeAcked(now);
      this.growPackets();
    } else if (p.needResend) {
      this.mtu.onProbeLost(now);
    }
  }

  private growPackets(): void {
    const size = this.mtu.current;
    this.sb.setPacketBytes(size);
    this.ledbat.setPacketSize(size - HEADER_SIZE);
  }

  /** The window we tell the peer: free receive buffer. */
  recvWindow(): number {
    const used = this.reorder.bufferedBytes + this.hooks.unreadBytes();
    return used >= this.recvWindowBytes ? 0 : this.recvWindowBytes - used;
  }

  private advertise(): number {
    const w = this.recvWindow();
    this.lastAdvertised = w;
    return w;
  }

  /** A STATE packet: the cumulative ack, with a SACK when packets wait out of order. */
  private sendState(now: number): void {
    this.ackPending = false;
    // A fresh buffer per ack: a datagram the OS could not take at once is queued by reference, and
    // rewriting a queued ack would send the same ack twice (a false duplicate at the peer). Acks are
    // batched, so this is one small allocation per batch, not per packet.
    const buf = new Uint8Array(HEADER_SIZE + 2 + MAX_SACK_BYTES);
    this.writeHeader(buf, ST_STATE, this.sendId, now, this.sb.nextSeq, this.reorder.ackNr);
    let len = HEADER_SIZE;
    // Holes before a FIN are SACKed like any others (libutp does): the sender repairs them by fast
    // retransmit instead of waiting for its retransmission timeout.
    if (this.reorder.bufferedCount > 0) {
      const n = this.reorder.writeSack(buf.subarray(HEADER_SIZE + 2, HEADER_SIZE + 2 + MAX_SACK_BYTES));
      if (n > 0) {
        this.tx.extension = EXT_SACK;
        buf[HEADER_SIZE] = EXT_NONE;
        buf[HEADER_SIZE + 1] = n;
        len += 2 + n;
      }
    }
    this.emit(buf, len, now, false);
  }

  /** FIN-once or RST: a header-only packet outside the send buffer. */
  private writeControl(type: number, now: number, seq: number): void {
    const buf = new Uint8Array(HEADER_SIZE);
    this.writeHeader(buf, type, this.sendId, now, seq, this.reorder.ackNr);
    this.emit(buf, HEADER_SIZE, now, false);
  }

  /** A whole header for a packet built outside the send buffer (SYN, STATE, FIN-once, RST). */
  private writeHeader(
    buf: Uint8Array,
    type: number,
    connectionId: number,
    now: number,
    seq: number,
    ack: number,
  ): void {
    const h = this.tx.reset(buf);
    h.type = type;
    h.version = UTP_VERSION;
    h.extension = EXT_NONE;
    h.connectionId = connectionId;
    h.timestamp = ts32(now);
    // Nothing has been measured before the SYN: replyMicro is 0 then.
    h.timestampDiff = this.replyMicro;
    h.windowSize = this.advertise();
    h.seqNr = seq;
    h.ackNr = ack;
  }

  /** Returns true when the transport kept `buf` by reference. */
  private emit(buf: Uint8Array, length: number, now: number, retransmit: boolean): boolean {
    this.s.packetsSent++;
    this.s.bytesSent += length;
    this.lastSentAt = now;
    if (this.hooks.trace) this.traceRecord('out', buf, length, now, retransmit);
    return this.hooks.transmit(buf, length) === true;
  }

  // ---------------------------------------------------------------- timers

  /** The earliest time `handleTimeout` has work, or 0 for none. */
  nextDeadline(): number {
    return earliest(
      earliest(earliest(this.rtoDeadline, this.zeroWindowDeadline), this.tlpDeadline),
      this.synAckDeadline,
    );
  }

  handleTimeout(now: number): void {
    if (this.closed) return;
    if (this.synAckDeadline !== 0 && now >= this.synAckDeadline) {
      this.synAckDeadline = 0;
      if (!this.peerHeard) {
        this.sendSynAck(now);
        this.flushData(now); // re-arms the next resend while data still waits
      }
    }
    if (this.rtoDeadline !== 0 && now >= this.rtoDeadline) this.onRto(now);
    if (this.closed) return;
    if (this.tlpDeadline !== 0 && now >= this.tlpDeadline) this.onTailProbe(now);
    if (this.zeroWindowDeadline !== 0 && now >= this.zeroWindowDeadline) this.onZeroWindowProbe(now);
  }

  private onRto(now: number): void {
    if (this.sb.packetsInFlight === 0) {
      this.rtoDeadline = 0;
      return;
    }
    this.retransmitCount++;
    this.s.timeouts++;
    // The chart decides whether the connection survives this timeout.
    this.hooks.lifecycle({ type: 'RTO_FIRED', count: this.retransmitCount });
    if (this.closed) return;
    const probeOnly = this.mtu.probeSeq >= 0 && this.sb.packetsInFlight === 1;
    if (this.mtu.probeSeq >= 0) this.mtu.onProbeLost(now);
    // libutp: a lone lost MTU probe says nothing about congestion.
    if (!probeOnly) {
      this.rtt.backoff();
      this.ledbat.onTimeout(now);
    }
    this.sb.markAllLost();
    this.rtoDeadline = now + this.rtt.rtoUs;
    this.flushData(now);
  }

  /**
   * Two smoothed RTTs (at least 10 ms) without an ack while packets are in flight: the tail of a
   * burst may be lost, and nothing after it will produce duplicate acks. The RTO (1 s at least)
   * would find it; resending the newest packet once gets the receiver to ack with a SACK at once,
   * which shows the holes to fast retransmit (the tail-loss probe of TCP RACK-TLP and QUIC's PTO).
   */
  private tailProbeDelay(): number {
    const srtt = this.rtt.hasSample ? this.rtt.srttUs : this.rtt.rtoUs / 2;
    const d = 2 * srtt;
    return Math.max(d, TAIL_PROBE_MIN_US);
  }

  private onTailProbe(now: number): void {
    this.tlpDeadline = 0;
    this.tlpArmed = false; // one probe per silence; the RTO takes over after it
    const p = this.sb.newestSent();
    if (p === undefined || p.needResend) return;
    if (this.rtoDeadline !== 0 && this.rtoDeadline - now < this.tailProbeDelay()) return; // the RTO is as near
    this.s.tailProbes++;
    // A padded MTU probe unacked this long is taken as too big; its data goes again at the floor size.
    if (p.seqNr === this.mtu.probeSeq) this.mtu.onProbeLost(now);
    this.tlpSeq = p.seqNr;
    this.tlpSentAt = now;
    this.sendPacket(p, now, true);
    this.tlpDeadline = 0;
  }

  private armZeroWindowProbe(now: number): void {
    if (this.zeroWindowDeadline !== 0) return;
    const wait = Math.min(this.zeroWindowProbeMaxUs, ZERO_WINDOW_PROBE_MIN_US * 2 ** this.zeroWindowBackoff);
    this.zeroWindowDeadline = now + wait;
  }

  private onZeroWindowProbe(now: number): void {
    this.zeroWindowDeadline = 0;
    if (this.peerWindow > 0 || this.queuedBytes === 0) return;
    this.s.zeroWindowProbes++;
    this.zeroWindowBackoff++;
    // Like libutp's zerowindow_time: pretend the peer has room for one packet.
    this.peerWindow = this.mtu.current - HEADER_SIZE;
    this.flushData(now);
    this.peerWindow = 0;
  }

  /** Consecutive RTOs so far (the chart's guard compares it with the limit). */
  get retransmits(): number {
    return this.retransmitCount;
  }

  get retransmitLimit(): number {
    return this.maxRetransmits;
  }

  // ---------------------------------------------------------------- observability

  stats(): ConnectionStats {
    const l = this.ledbat.stats();
    const r = this.rtt.stats();
    return {
      cwnd: l.cwnd,
      peerWindow: this.peerWindow,
      recvWindow: this.recvWindow(),
      srttUs: r.srttUs,
      rttvarUs: r.rttvarUs,
      rtoUs: r.rtoUs,
      baseDelayUs: l.baseDelayUs,
      queuingDelayUs: l.queuingDelayUs,
      bytesInFlight: this.sb.bytesInFlight,
      packetsInFlight: this.sb.packetsInFlight,
      packetSize: this.mtu.current,
      ...this.s,
      duplicates: this.reorder.duplicates,
      outOfOrder: this.reorder.outOfOrder,
      mtuProbes: this.mtu.probesSent,
      mtuProbesLost: this.mtu.probesLost,
    };
  }

  private traceRecord(dir: 'in' | 'out', buf: Uint8Array, length: number, now: number, retransmit: boolean): void {
    const view = buf.subarray(0, length);
    const layout = createLayout();
    if (scanPacket(view, layout) !== null) return;
    const h = new PacketHeader(view);
    let sack: number[] | undefined;
    if (layout.sackOffset >= 0) {
      const list: number[] = [];
      forEachSacked(h.ackNr, view.subarray(layout.sackOffset, layout.sackOffset + layout.sackLength), (seq) =>
        list.push(seq),
      );
      sack = list;
    }
    this.hooks.trace?.({
      kind: 'packet',
      dir,
      at: now,
      type: TYPE_NAMES[h.type] ?? 'DATA',
      connectionId: h.connectionId,
      seqNr: h.seqNr,
      ackNr: h.ackNr,
      windowSize: h.windowSize,
      length,
      payload: length - layout.payloadOffset,
      ...(sack ? { sack } : {}),
      retransmit,
    });
  }
}

/**
 * Reorder slots for a receive window: enough for the window in packets of 512 payload bytes
 * (below any path's MTU floor), so a sender that honours the window never finds a packet dropped
 * as too far ahead; a power of two at most 32768.
 */
function reorderCapacityFor(windowBytes: number): number {
  const packets = Math.ceil(windowBytes / 512);
  let n = 64;
  while (n < packets && n < 32768) n *= 2;
  return n;
}

/** The earlier of two deadlines, where 0 means none. */
function earliest(a: number, b: number): number {
  if (a === 0) return b;
  if (b === 0) return a;
  return Math.min(a, b);
}

/** The extension-bits extension after a 20-byte header in `buf`, with utpx's large-datagrams bit set. */
function writeLargeDatagramsBit(buf: Uint8Array, header: PacketHeader): void {
  header.reset(buf).extension = EXT_BITS;
  buf[HEADER_SIZE] = EXT_NONE;
  buf[HEADER_SIZE + 1] = EXT_BITS_LENGTH;
  buf.fill(0, HEADER_SIZE + 2, HEADER_SIZE + 2 + EXT_BITS_LENGTH);
  buf[HEADER_SIZE + 2 + EXT_BITS_LARGE_DATAGRAMS_BYTE] = EXT_BITS_LARGE_DATAGRAMS_MASK;
}
