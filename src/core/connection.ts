/**
 * The per-connection protocol core: everything that happens per packet, with no XState, sockets or
 * clocks. Bytes come in through `handlePacket(buf, layout, now)`, timers through
 * `handleTimeout(now)`, outgoing datagrams leave through `hooks.transmit`. The lifecycle belongs to
 * the statechart: the core only reports what it saw (the handshake acked, a FIN, a reset, a
 * retransmission timeout…) as facts in `facts`, which its owner drains into the chart after each
 * input, and the chart in turn calls the commands below (`sendSyn`, `acceptSyn`, `queueFin`,
 * `sendReset`, `close`, …) by name.
 *
 * Read top-down, it follows BEP 29: handshake, then for every packet the ack it carries (`onAck`:
 * RTT, LEDBAT, loss), then its payload (`onData`) or end of stream (`onFin`); packetization and
 * retransmission in `flush`; timers in a table.
 *
 * Data and acks never go through the chart: see docs/design.md for the measured reason.
 */
import { createLayout, type PacketLayout, scanPacket } from '../wire/codec.js';
import type { PacketTypeName } from '../wire/constants.js';
import {
  EXT_BITS,
  EXT_BITS_LARGE_DATAGRAMS_BYTE,
  EXT_BITS_LARGE_DATAGRAMS_MASK,
  EXT_NONE,
  EXT_SACK,
  HEADER_SIZE,
  PLAIN_DATAGRAM_MAX,
  ST_DATA,
  ST_FIN,
  ST_RESET,
  ST_STATE,
  ST_SYN,
  TYPE_NAMES,
} from '../wire/constants.js';
import { PacketHeader } from '../wire/header.js';
import { seqAdd, seqDiff, seqGte, ts32, tsDiff } from '../wire/seq.js';
import {
  EXT_BITS_SIZE,
  type HeaderFields,
  probeSizeFor,
  restampHeader,
  writeHeader,
  writeLargeDatagramsBits,
  writeProbe,
  writeSackHeader,
  writeSeqNr,
} from '../wire/writer.js';
import { ByteQueue } from './byte-queue.js';
import { zeroDoubles } from './doubles.js';
import { type AckResult, createAckResult, InFlightPackets, type OutPacket } from './in-flight.js';
import { Ledbat, type LedbatOptions } from './ledbat.js';
import { MTU_BASE_IPV4, MTU_CEILING_DEFAULT, MTU_FLOOR_DEFAULT, MtuSearch } from './mtu.js';
import { Pacer } from './pacer.js';
import { ReorderBuffer } from './reorder-buffer.js';
import { RttEstimator } from './rtt.js';
import { forEachSacked } from './sack.js';

/** What the core saw that matters to the lifecycle; the chart decides what follows. */
export type CoreEvent =
  | { readonly type: 'SYN_ACKED' }
  | { readonly type: 'PEER_ACKED' }
  | { readonly type: 'FIN_RECEIVED' }
  | { readonly type: 'EOF_DELIVERED' }
  | { readonly type: 'FIN_ACKED' }
  | { readonly type: 'RESET_RECEIVED' }
  /**
   * A retransmission timeout, the `count`th in a row. `finOnly`: all that is unacked is our FIN,
   * after the peer's FIN and all our data arrived — a peer that already closed (libtorrent forgets a
   * connection once its own FIN is acked) never acks it.
   */
  | { readonly type: 'RTO_FIRED'; readonly count: number; readonly finOnly: boolean }
  /** Nothing heard from the peer for the idle timeout (the answer to a `livenessTick`). */
  | { readonly type: 'PEER_IDLE' };

/** BEP 29 packet type names, as traces show them. */

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
   * demand up to this; the default covers the receive window in packets, so a sender that honours
   * our window never has packets dropped as too far ahead (libutp: 1024).
   */
  reorderPackets?: number;
  /**
   * uTP datagram sizes for path MTU discovery (header + payload, no IP/UDP headers). Above
   * PLAIN_DATAGRAM_MAX (1472) only towards a peer that announced large datagrams in the handshake.
   */
  mtuFloor?: number;
  mtuCeiling?: number;
  /**
   * Datagram size to start at and to fall back to when the path stops carrying larger ones
   * (DPLPMTUD's base). Default MTU_BASE_IPV4 (1172); the Node layer gives IPv6 peers MTU_BASE_IPV6.
   */
  packetSize?: number;
  /** Consecutive retransmission timeouts survived; the next one kills the connection (libutp: 4). */
  maxRetransmits?: number;
  minRtoUs?: number;
  maxRtoUs?: number;
  initialRtoUs?: number;
  ledbat?: LedbatOptions;
  /** Longest wait between zero-window probes. libutp: 15 s. */
  zeroWindowProbeMaxUs?: number;
  /**
   * Spread new data over the RTT (1.25 × window / SRTT, after slow start) instead of sending a
   * window at once (see `Pacer`). Default true; it does nothing on paths whose RTT is below a few ms.
   */
  pacing?: boolean;
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
  /** Data packets dropped because they exceeded the receive window we advertised. */
  windowDrops: number;
  /** Times the packets in flight were packetized again, smaller, after an MTU black hole. */
  repacketized: number;
  zeroWindowProbes: number;
  tailProbes: number;
  mtuProbes: number;
  mtuProbesLost: number;
  /** Times the path stopped carrying the packet size in use (RFC 8899 black hole) and it fell back. */
  mtuBlackHoles: number;
  /** Times new data waited for the pacer (each wait ends at a pacing deadline or the next ack). */
  pacedWaits: number;
  /** The pacing rate at the last send, bytes/s; 0 while pacing is off (no RTT yet, a short path, or the option). */
  pacingRate: number;
}

/** 4 MiB, like the top of Linux's TCP receive-buffer autotuning; 1 MiB held loopback to ~430 MB/s. */
export const DEFAULT_RECV_WINDOW = 4 << 20;
/** Unsent bytes buffered in the core before `write` says it is full. */
export const DEFAULT_SEND_QUEUE = 1 << 20;

/** The largest SACK we write: 1,024 packets past ack_nr + 1 (libutp REORDER_BUFFER_MAX_SIZE / 8). */
const MAX_SACK_BYTES = 128;
/** libutp ZEROWINDOW probe: after 15 s of a zero window, send one packet anyway. We start sooner and back off to it. */
const ZERO_WINDOW_PROBE_MIN_US = 500_000;
/** Floor of the tail-loss probe delay (RFC 8985's TLP uses 2·SRTT; a floor keeps loopback from probing needlessly). */
const TAIL_PROBE_MIN_US = 10_000;
/**
 * Tail-loss probes per silence before the retransmission timeout has to act, each after twice the
 * previous wait (QUIC's PTO backs off the same way). At 15 % random loss one probe is lost one time
 * in seven; two in a row one time in fifty.
 */
const MAX_TAIL_PROBES = 2;
/**
 * RACK's reordering window (RFC 8985 §6.2: min_RTT / 4), at least this: a packet sent this much
 * before one that was acked, and still missing, is lost. The floor keeps packets sent in the same
 * burst (µs apart) to the duplicate-ack and SACK rules, which count packets instead of time.
 */
const RACK_REORDER_MIN_US = 1_000;
/**
 * Retransmission timeouts count towards `maxRetransmits` from this RTO on (libutp's minimum RTO):
 * the connection dies after as long a silence as with libutp, however short its path's RTO.
 */
const COUNTED_RTO_US = 1_000_000;
/**
 * SYN-ACK resends while an acceptor holds data for an initiator it has not heard from (the
 * initiator's ack of the SYN-ACK was lost). Bounded, since the SYN may be spoofed.
 */
const SYN_ACK_RESENDS = 3;

/** The timer table: one deadline per kind (µs, 0 = not armed). */
const RTO = 0;
const TAIL_PROBE = 1;
const ZERO_WINDOW = 2;
const SYN_ACK = 3;
/** RACK's reordering timer: packets sent before an acked one, still missing a reordering window later. */
const RACK = 4;
/** The pacer holds new data: send more when its bucket has refilled. */
const PACE = 5;
const TIMERS = 6;

const EMPTY = new Uint8Array(0);

export type Role = 'initiator' | 'acceptor';

/** A SYN the endpoint answered before the connection existed: when its SYN-ACK first went out, and how often. */
export interface SynAnswered {
  readonly at: number;
  readonly count: number;
}

/**
 * Where the connection is, as far as the core needs to know to act: set by the chart's commands
 * (and, for the handshake, by the packets that complete it). `synReceived` accepts acks and data
 * from the initiator but sends nothing of its own beyond the SYN-ACK.
 */
export type Phase = 'idle' | 'synSent' | 'synReceived' | 'open' | 'closed';

export class ConnectionCore {
  readonly role: Role;
  recvId = 0;
  sendId = 0;
  phase: Phase = 'idle';
  /** Lifecycle facts since the owner last drained them, oldest first. */
  readonly facts: CoreEvent[] = [];
  readonly ledbat: Ledbat;
  readonly rtt: RttEstimator;
  readonly mtu: MtuSearch;
  private readonly flight: InFlightPackets;
  private readonly reorder: ReorderBuffer;
  private readonly pacer = new Pacer();
  private readonly pacing: boolean;
  private readonly outgoing = new ByteQueue();
  private readonly hooks: ConnectionHooks;
  private readonly ack: AckResult = createAckResult();
  private readonly rx = new PacketHeader(EMPTY);
  private readonly fields: HeaderFields = {
    type: 0,
    connectionId: 0,
    timestamp: 0,
    timestampDiff: 0,
    windowSize: 0,
    seqNr: 0,
    ackNr: 0,
    extension: EXT_NONE,
  };
  private readonly recvWindowBytes: number;
  private readonly sendQueueBytes: number;
  private readonly maxRetransmits: number;
  private readonly zeroWindowProbeMaxUs: number;
  /** The configured ceiling, reachable once the peer says it takes datagrams over PLAIN_DATAGRAM_MAX. */
  private readonly largeCeiling: number;
  /** The peer announced it reads datagrams up to 64 KiB whole (see EXT_BITS_LARGE_DATAGRAMS_MASK). */
  peerTakesLargeDatagrams = false;
  /**
   * Deadlines by timer kind (RTO, TAIL_PROBE, ZERO_WINDOW, SYN_ACK, RACK, PACE). A plain array of
   * doubles (~90 bytes) rather than a Float64Array (~240 bytes with its buffer): as fast to index.
   */
  private readonly deadlines: number[] = zeroDoubles(TIMERS);

  // Handshake.
  /** seq_nr of our SYN (initiator) or of our SYN-ACK, the first seq of our stream (acceptor). */
  private synSeq = 0;
  private synSentAt = 0;
  /** SYNs (initiator) or SYN-ACKs (acceptor) sent: Karn's rule takes an RTT sample only from the first. */
  private synSends = 0;
  /** See isEstablished. */
  private handshook = false;

  // Send side.
  private writeBlocked = false;
  private finQueued = false;
  /** seq_nr of our FIN once it is in the send buffer, or −1. */
  finSeq = -1;
  finAcked = false;
  peerWindow = 0;
  /** Their one-way delay to us as we last measured it: what our packets report back (timestamp_difference). */
  private replyMicro = 0;
  /** Consecutive retransmission timeouts without an ack in between. */
  private rtoCount = 0;
  /** When we asked the receiver, by a small packet, whether any of the too-big packets arrived; or 0. */
  private blackHoleAskedAt = 0;
  /** No MTU probe until an ack covers this seq_nr (after packets were taken back and resent smaller); −1: none. */
  private probeAfter = -1;
  /** A tail-loss probe may fire (MAX_TAIL_PROBES per silence). */
  private tlpArmed = true;
  /** Tail-loss probes sent since the last ack. */
  private tlpCount = 0;
  /** RACK: the latest send time of a packet known delivered; missing packets sent before it wait a reordering window. */
  private rackSentAt = 0;
  /** The packet a tail probe resent, and when: once it is acked, what was sent before it and is missing is lost. */
  private tlpSeq = -1;
  private tlpSentAt = 0;
  private zeroWindowBackoff = 0;
  private ackPending = false;
  /**
   * New packets arrived out of order since our last STATE: a STATE with the SACK goes out even if a
   * DATA carries the cumulative ack (a DATA has no SACK, and libtorrent counts duplicate acks only
   * on STATEs: without it, a lost packet of a peer that is also receiving waits for its timeout).
   */
  private sackPending = false;
  private lastAdvertised = 0;
  lastSentAt = 0;
  lastReceivedAt = 0;

  // Receive side.
  /** seq_nr of the peer's FIN, or −1. */
  eofSeq = -1;
  eofDelivered = false;

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
    windowDrops: 0,
    repacketized: 0,
    zeroWindowProbes: 0,
    tailProbes: 0,
    pacedWaits: 0,
  };

  constructor(role: Role, hooks: ConnectionHooks, opts: ConnectionOptions = {}) {
    this.role = role;
    this.hooks = hooks;
    this.recvWindowBytes = opts.recvWindowBytes ?? DEFAULT_RECV_WINDOW;
    this.sendQueueBytes = opts.sendQueueBytes ?? DEFAULT_SEND_QUEUE;
    this.maxRetransmits = opts.maxRetransmits ?? 4;
    this.zeroWindowProbeMaxUs = opts.zeroWindowProbeMaxUs ?? 15_000_000;
    this.pacing = opts.pacing ?? true;
    const floor = opts.mtuFloor ?? MTU_FLOOR_DEFAULT;
    this.largeCeiling = opts.mtuCeiling ?? MTU_CEILING_DEFAULT;
    const ceiling = Math.min(this.largeCeiling, PLAIN_DATAGRAM_MAX);
    this.mtu = new MtuSearch({ floor, ceiling, base: opts.packetSize ?? MTU_BASE_IPV4 });
    this.ledbat = new Ledbat({ packetSize: this.mtu.current - HEADER_SIZE, ...opts.ledbat });
    const rttOpts: { initialRtoUs?: number; minRtoUs?: number; maxRtoUs?: number } = {};
    if (opts.initialRtoUs !== undefined) rttOpts.initialRtoUs = opts.initialRtoUs;
    if (opts.minRtoUs !== undefined) rttOpts.minRtoUs = opts.minRtoUs;
    if (opts.maxRtoUs !== undefined) rttOpts.maxRtoUs = opts.maxRtoUs;
    this.rtt = new RttEstimator(rttOpts);
    this.flight = new InFlightPackets({
      capacity: opts.sendBufferPackets ?? 1024,
      packetBytes: this.mtu.current,
      initialSeq: 0,
    });
    this.reorder = new ReorderBuffer({ capacity: opts.reorderPackets ?? reorderCapacityFor(this.recvWindowBytes) });
  }

  // ================================================================ commands (the chart calls these)

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
      this.flight.restart(seqAdd(this.synSeq, 1));
      this.phase = 'synSent';
    }
    // BEP 29: a SYN carries the id the initiator will receive on, not the one it sends with; and
    // our extension bit saying we read large datagrams whole.
    const buf = new Uint8Array(HEADER_SIZE + EXT_BITS_SIZE);
    this.writeControlHeader(buf, ST_SYN, this.recvId, now, this.synSeq, 0, EXT_BITS);
    writeLargeDatagramsBits(buf, HEADER_SIZE, EXT_NONE);
    this.synSentAt = now;
    this.synSends++;
    this.emit(buf, buf.length, now, false);
  }

  /**
   * Acceptor: take the SYN's ids and sequence number and answer with a STATE (the SYN-ACK) — or,
   * when the endpoint already answered it from its SYN queue (`answered`), only take on the state
   * that SYN-ACK announced.
   */
  acceptSyn(now: number, syn: Uint8Array, initialSeq: number, answered?: SynAnswered): void {
    const layout = createLayout();
    if (scanPacket(syn, layout) !== null) return;
    const h = this.rx.reset(syn);
    this.sendId = h.connectionId;
    this.recvId = seqAdd(h.connectionId, 1);
    // The SYN never passes through handlePacket: traced here, once the connection has its ids
    // (unless the endpoint answered it from its SYN queue, and traced it then).
    if (this.hooks.trace && answered === undefined) this.traceRecord('in', syn, syn.length, now, false);
    this.notePeerExtensions(syn, layout);
    this.peerWindow = h.windowSize;
    this.reorder.init(h.seqNr);
    this.synSeq = initialSeq & 0xffff;
    this.flight.restart(this.synSeq);
    this.phase = 'synReceived';
    this.handshook = true;
    this.lastReceivedAt = now;
    if (h.timestamp !== 0) this.replyMicro = tsDiff(ts32(now), h.timestamp);
    this.rx.buf = EMPTY;
    if (answered === undefined) this.sendSynAck(now);
    else {
      this.synSentAt = answered.at;
      this.synSends = answered.count;
      // The endpoint sent them on this connection's behalf: its stats include its handshake.
      this.s.packetsSent += answered.count;
      this.s.bytesSent += answered.count * (HEADER_SIZE + EXT_BITS_SIZE);
    }
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
    this.writeControl(ST_FIN, now, this.flight.nextSeq);
  }

  /** RST: the peer should forget this connection. */
  sendReset(now: number): void {
    if (this.sendId === 0 && this.recvId === 0) return;
    this.writeControl(ST_RESET, now, this.flight.nextSeq);
  }

  /** Keepalive: a STATE when nothing went out for a while, so NATs keep the mapping (libutp KEEPALIVE_INTERVAL). */
  sendKeepalive(now: number): void {
    if (!this.established) return;
    this.sendState(now);
  }

  /**
   * The chart's liveness tick: a keepalive if nothing went out for `keepaliveUs`; the fact
   * PEER_IDLE if nothing came in for `idleTimeoutUs` (0: never).
   */
  livenessTick(now: number, keepaliveUs: number, idleTimeoutUs: number): void {
    // The header view lets the last datagram go (an idle connection would hold it, ~300 bytes): here,
    // off the packet path (flush() may run inside handlePacket when an owner flushes synchronously).
    this.rx.buf = EMPTY;
    if (idleTimeoutUs > 0 && now - this.lastReceivedAt >= idleTimeoutUs) {
      this.facts.push({ type: 'PEER_IDLE' });
      return;
    }
    if (now - this.lastSentAt >= keepaliveUs) this.sendKeepalive(now);
  }

  /**
   * Stop everything: the chart reached a final state. An ack still owed goes out first — the
   * peer's FIN is often the packet that completed the close, and it must hear that it arrived —
   * unless the connection ended abnormally (after a RST there is nobody to ack).
   */
  close(now: number, sendOwedAck = true): void {
    if (this.phase === 'closed') return;
    if (sendOwedAck && this.ackPending && this.established) this.sendState(now);
    this.phase = 'closed';
    this.deadlines.fill(0);
    this.outgoing.clear();
  }

  // ================================================================ application side

  /** Queue bytes to send. Returns false when the queue is over its limit (wait for `writable`). */
  write(chunk: Uint8Array): boolean {
    if (this.phase === 'closed' || this.finQueued) return false;
    if (chunk.length > 0) {
      this.outgoing.push(chunk);
      this.hooks.needFlush();
    }
    const ok = this.outgoing.bytes < this.sendQueueBytes;
    if (!ok) this.writeBlocked = true;
    return ok;
  }

  /** Everything written, including a queued FIN, has been acknowledged. */
  get allAcked(): boolean {
    return this.outgoing.bytes === 0 && this.flight.count === 0;
  }

  /** The application read some of what was delivered: reopen the window if we had closed it. */
  onRead(): void {
    if (!this.established) return;
    const packet = this.mtu.current - HEADER_SIZE;
    if (this.lastAdvertised < packet && this.recvWindow() >= packet) {
      this.ackPending = true;
      this.hooks.needFlush();
    }
  }

  // ================================================================ input

  /**
   * One datagram from the peer whose ids matched. `layout` is the result of `scanPacket` on it
   * (the demultiplexer has validated the datagram already).
   */
  handlePacket(buf: Uint8Array, layout: PacketLayout, now: number): void {
    if (this.phase === 'closed' || this.phase === 'idle') return;
    const h = this.rx.reset(buf);
    const type = h.type;
    this.s.packetsReceived++;
    if (this.hooks.trace) this.traceRecord('in', buf, buf.length, now, false);

    if (type === ST_RESET) {
      // Once both sides know each other's numbers, a RST acks a seq the peer saw from us: the packet it
      // answers (a STATE or keepalive carries our next seq_nr) or the last it received in order. One
      // acking what we never sent, or further behind than any ack the peer can send, is forged or
      // stale: an off-path guess now passes with odds of about a window in 65,536, not one in two.
      // Before, the peer may not know our seq_nr (its RST answers our SYN-ACK's loss), and any ack goes.
      if (this.phase === 'open' && !this.resetAckPlausible(h.ackNr)) this.s.invalidAcks++;
      else this.facts.push({ type: 'RESET_RECEIVED' });
      return;
    }
    if (type === ST_SYN) {
      this.onSynAgain(h, now);
      return;
    }
    if (this.phase === 'synSent') {
      this.onHandshake(h, buf, layout, now);
      return;
    }
    if (!this.onAck(h, buf, layout, now)) return;
    // Only a packet whose ack holds up shows the peer is alive: a forged one (right id, any ack)
    // must not keep a connection whose peer vanished from its idle timeout.
    this.lastReceivedAt = now;
    if (type === ST_DATA) this.onData(h.seqNr, buf, layout.payloadOffset, buf.length - layout.payloadOffset);
    else if (type === ST_FIN) this.onFin(h.seqNr);
    if (this.ackPending || this.outgoing.bytes > 0 || this.ack.ackedPackets > 0 || this.ack.newlyLost > 0) {
      this.hooks.needFlush();
    }
  }

  private resetAckPlausible(ackNr: number): boolean {
    if (seqDiff(ackNr, this.flight.nextSeq) > 0) return false;
    return seqDiff(seqAdd(this.flight.oldestSeq, -1), ackNr) <= this.flight.ackBehindLimit;
  }

  /** Acceptor: the initiator retried its SYN, so our SYN-ACK was lost. Answer again. */
  private onSynAgain(h: PacketHeader, now: number): void {
    if (this.role === 'acceptor' && h.seqNr === this.reorder.ackNr) this.sendSynAck(now);
  }

  /**
   * Initiator waiting for the SYN-ACK: a STATE acking our SYN. Its seq_nr is where the acceptor's
   * stream starts — an acceptor sends no DATA before it hears from us, so nothing before that seq_nr
   * exists. A DATA here would come from a peer that wrote before the handshake completed; taking its
   * seq_nr as the start could skip earlier lost packets, so it is ignored (it will be retransmitted).
   */
  private onHandshake(h: PacketHeader, buf: Uint8Array, layout: PacketLayout, now: number): void {
    if (h.type !== ST_STATE || h.ackNr !== this.synSeq) return;
    this.reorder.init(seqAdd(h.seqNr, -1));
    this.lastReceivedAt = now;
    this.notePeerExtensions(buf, layout);
    this.phase = 'open';
    this.handshook = true;
    this.peerWindow = h.windowSize;
    if (h.timestamp !== 0) this.replyMicro = tsDiff(ts32(now), h.timestamp);
    // The handshake is the first RTT sample. Karn's rule would drop it when the SYN went out more
    // than once; the time since the last SYN is taken instead (it can only be too small, which the
    // RTO floor bounds and the first data acks correct), since without any sample the first data
    // would wait for the 3 s initial RTO (RFC 6298 §5.7) with no tail-loss probe before it.
    this.rtt.onSample(now - this.synSentAt);
    // Ack the SYN-ACK at once, so the acceptor learns the handshake completed even before we have
    // data (a libutp acceptor ignores it; a utpx one may then send what it holds).
    this.ackPending = true;
    this.hooks.needFlush();
    this.facts.push({ type: 'SYN_ACKED' });
  }

  /**
   * The ack every packet carries. Returns false when the packet is to be dropped whole: its ack_nr
   * acknowledges what was never sent, or lies further behind than any ack the peer can have sent
   * (libutp drops those too: spoofed or broken). Nothing of such a packet counts, its delay sample
   * included.
   */
  private onAck(h: PacketHeader, buf: Uint8Array, layout: PacketLayout, now: number): boolean {
    const type = h.type;
    const payloadLength = buf.length - layout.payloadOffset;
    const sack =
      layout.sackOffset >= 0 ? buf.subarray(layout.sackOffset, layout.sackOffset + layout.sackLength) : undefined;
    const flightBefore = this.flight.bytesInFlight;
    const ack = this.ack;
    this.flight.onAck(h.ackNr, sack, now, type === ST_STATE && payloadLength === 0, ack);
    if (ack.invalid) {
      this.s.invalidAcks++;
      return false;
    }
    const ts = h.timestamp;
    const theirDelay = ts === 0 ? 0 : tsDiff(ts32(now), ts);
    this.replyMicro = theirDelay;
    this.ledbat.onDelaySample(now, h.timestampDiff, theirDelay);
    this.peerWindow = h.windowSize;
    if (this.phase === 'synReceived') this.onPeerHeard(h, payloadLength, now);
    else if (this.role === 'initiator' && type === ST_STATE && this.isSynAckAgain(h)) this.ackPending = true;

    if (ack.ackedPackets > 0) this.onAcked(now, flightBefore);
    else if (this.peerWindow === 0 && this.flight.packetsInFlight > 0) this.onPeerFull(now);
    if (this.blackHoleAskedAt !== 0) {
      // The receiver's answer (see askBlackHole): a STATE that acks none of what is in flight and
      // carries no SACK at all. Every peer adds a SACK to its acks while it holds packets out of
      // order (libutp only covers 30 of them in it, but sends it whenever it holds any), so none of
      // ours waits there either. A DATA carries no SACK: it proves nothing.
      if (ack.ackedPackets > 0) this.blackHoleAskedAt = 0;
      else if (type === ST_STATE && now > this.blackHoleAskedAt) {
        // A SACK: the receiver holds some of ours out of order — random loss, not a black hole (or
        // nothing can be taken back safely): back to retransmitting as usual.
        if (sack === undefined) this.repacketize(now);
        else {
          this.blackHoleAskedAt = 0;
          this.hooks.needFlush();
        }
      }
    }
    if (this.tlpSeq >= 0 && ack.ackedPackets > 0 && this.flight.get(this.tlpSeq) === undefined) {
      // The probe got through: anything sent before it and still missing was lost, not delayed.
      this.tlpSeq = -1;
      ack.newlyLost += this.flight.markLostSentBefore(this.tlpSentAt);
    }
    if (ack.minRttUs >= 0) ack.newlyLost += this.rackDetect(now, now - ack.minRttUs);
    if (ack.newlyLost > 0) {
      this.s.fastRetransmits += ack.newlyLost;
      // A lost MTU probe alone says the packet was too big, not that the path is congested.
      if (!(ack.newlyLost === 1 && this.probeLost())) this.ledbat.onLoss(now, this.rtt.srttUs);
    }
    this.checkProbe(now);
    if (this.peerWindow > 0) {
      this.deadlines[ZERO_WINDOW] = 0;
      this.zeroWindowBackoff = 0;
    }
    if (this.finSeq >= 0 && !this.finAcked && seqGte(h.ackNr, this.finSeq)) {
      this.finAcked = true;
      this.facts.push({ type: 'FIN_ACKED' });
    }
    return true;
  }

  /**
   * Acceptor: the first valid packet from the initiator since its SYN. It has our SYN-ACK, so our
   * stream may start. A utpx initiator acks the SYN-ACK at once with a bare STATE (ack_nr = our
   * first seq − 1): the acceptor's first RTT sample (Karn: only if the SYN-ACK went out once).
   * libutp initiators send no such packet (their first is DATA, or a keepalive acking seq − 2).
   */
  private onPeerHeard(h: PacketHeader, payloadLength: number, now: number): void {
    this.phase = 'open';
    this.deadlines[SYN_ACK] = 0;
    if (h.type === ST_STATE && payloadLength === 0 && this.synSends === 1 && h.ackNr === seqAdd(this.synSeq, -1)) {
      this.rtt.onSample(now - this.synSentAt);
    }
    // Data and a FIN that waited for the initiator may go now.
    if (this.outgoing.bytes > 0 || this.finQueued) this.hooks.needFlush();
    this.facts.push({ type: 'PEER_ACKED' });
  }

  /**
   * Initiator: a SYN-ACK again, though we completed the handshake: the acceptor has not heard our
   * ack of it (lost) and holds data for us until it does.
   */
  private isSynAckAgain(h: PacketHeader): boolean {
    return h.ackNr === this.synSeq && h.seqNr === seqAdd(this.reorder.ackNr, 1) && this.reorder.bufferedCount === 0;
  }

  private onAcked(now: number, flightBefore: number): void {
    const ack = this.ack;
    if (this.probeAfter >= 0 && seqDiff(this.flight.oldestSeq, this.probeAfter) > 0) this.probeAfter = -1;
    this.s.bytesAcked += ack.ackedBytes;
    if (ack.rttSampleUs >= 0) this.rtt.onSample(ack.rttSampleUs);
    // Data the window let out but the pacer holds counts as using the window: LEDBAT grows it only
    // when it is used, and a paced sender keeps part of it unsent by design (Linux's
    // tcp_is_cwnd_limited makes a like allowance for paced and TSO-batched senders).
    const used = this.deadlines[PACE] !== 0 ? Math.max(flightBefore, this.sendWindow()) : flightBefore;
    // libutp caps the delay estimate by the smallest RTT among the packets this ack covers.
    this.ledbat.onAck(now, ack.ackedBytes, used, ack.minRttUs >= 0 ? ack.minRttUs : Number.POSITIVE_INFINITY);
    this.rtoCount = 0;
    const inFlight = this.flight.packetsInFlight > 0;
    this.deadlines[RTO] = inFlight ? now + this.rtoDelay() : 0;
    this.tlpArmed = true;
    this.tlpCount = 0;
    this.deadlines[TAIL_PROBE] = inFlight ? now + this.tailProbeDelay() : 0;
  }

  /**
   * RACK (RFC 8985) for retransmissions: a packet newly acked was last sent at `ackedSentAt`; a
   * retransmission sent more than a reordering window before it and still unacked is lost again —
   * which the SACK rule finds only once three packets sent after it were acked, and not at all at
   * the tail. First transmissions stay with libutp's rules (three duplicate acks, three SACKed
   * after a hole), which count packets and so tolerate reordering deeper than the window (there is
   * no DSACK in uTP to learn it from). Cheap on every ack: the span is scanned only when the oldest
   * packet in flight is older than the acked one (a loss, not the in-order case).
   */
  private rackDetect(now: number, ackedSentAt: number): number {
    const minRtt = this.rtt.minRttUs;
    const reorderWindow = Math.max(RACK_REORDER_MIN_US, Number.isFinite(minRtt) ? minRtt / 4 : 0);
    const oldest = this.flight.oldestInFlightSentAt();
    if (oldest < 0 || oldest >= ackedSentAt) return 0;
    if (oldest < ackedSentAt - reorderWindow) return this.flight.markLostSentBefore(ackedSentAt - reorderWindow, true);
    // Sent just before the acked one: reordered, or lost. If it is still missing a reordering
    // window from now, it was lost (RFC 8985 §6.3's reordering timer).
    if (this.rackSentAt < ackedSentAt) this.rackSentAt = ackedSentAt;
    if (this.deadlines[RACK] === 0) this.deadlines[RACK] = now + reorderWindow;
    return 0;
  }

  private onRackTimer(now: number): void {
    this.deadlines[RACK] = 0;
    const lost = this.flight.markLostSentBefore(this.rackSentAt, true);
    if (lost === 0) return;
    this.s.fastRetransmits += lost;
    if (!(lost === 1 && this.probeLost())) this.ledbat.onLoss(now, this.rtt.srttUs);
    this.flushData(now);
  }

  /**
   * The peer acks nothing new and says its window is zero: it is alive but full, and dropped what
   * we sent beyond its window. What is in flight waits for room — resent by the zero-window probe
   * (TCP's persist timer), not by retransmission timeouts, which would end a live connection.
   */
  private onPeerFull(now: number): void {
    this.flight.markAllLost();
    this.deadlines[RTO] = 0;
    this.deadlines[TAIL_PROBE] = 0;
    this.rtoCount = 0;
    this.armZeroWindowProbe(now);
  }

  /** A DATA packet: deliver it if it is next, hold it if it is ahead, drop it if it is old. */
  private onData(seq: number, buf: Uint8Array, offset: number, length: number): void {
    this.ackPending = true;
    if (this.eofSeq >= 0 && seqDiff(seq, this.eofSeq) > 0) return; // nothing exists past the FIN
    if (length > 0 && this.overWindow(length) && seqDiff(seq, this.reorder.ackNr) > 0) {
      // More than the window we advertised: a peer that ignores it would fill our memory without
      // bound. Dropped (not acked): a sender that honours the window resends it once there is room.
      this.s.windowDrops++;
      return;
    }
    const payload = length > 0 ? buf.subarray(offset, offset + length) : EMPTY;
    const r = this.reorder.receive(seq, payload);
    if (r === 'buffered') this.sackPending = true;
    if (r !== 'in-order') return;
    if (length > 0) this.deliver(payload);
    this.deliverBuffered();
  }

  /**
   * The peer's FIN: its stream ends at `seq`. It counts only where a packet of this stream can be:
   * not at a seq already delivered (a stale FIN would end the stream early) and not beyond the
   * reorder window (one far ahead would wait forever for data that never comes). It may arrive
   * before the last data (it is then held like any out-of-order packet).
   */
  private onFin(seq: number): void {
    this.ackPending = true;
    if (this.eofSeq >= 0 && seqDiff(seq, this.eofSeq) > 0) return;
    const r = this.reorder.receive(seq, EMPTY);
    if (r === 'duplicate' || r === 'too-far') return;
    if (this.eofSeq < 0) {
      this.eofSeq = seq;
      this.facts.push({ type: 'FIN_RECEIVED' });
    }
    if (r === 'in-order') this.deliverBuffered();
  }

  /** After an in-order packet: what waited behind it, then the end of stream once the FIN is reached. */
  private deliverBuffered(): void {
    for (let next = this.reorder.shift(); next !== undefined; next = this.reorder.shift()) {
      if (next.length > 0) this.deliver(next);
    }
    if (this.eofSeq >= 0 && !this.eofDelivered && seqDiff(this.reorder.ackNr, this.eofSeq) >= 0) {
      this.eofDelivered = true;
      this.facts.push({ type: 'EOF_DELIVERED' });
    }
  }

  private deliver(payload: Uint8Array): void {
    this.s.bytesReceived += payload.length;
    this.hooks.deliver(payload);
  }

  /** A SYN or SYN-ACK that says the peer reads large datagrams lets path MTU discovery go above 1,472 bytes. */
  private notePeerExtensions(buf: Uint8Array, layout: PacketLayout): void {
    const at = layout.extBitsOffset;
    if (at < 0 || ((buf[at + EXT_BITS_LARGE_DATAGRAMS_BYTE] ?? 0) & EXT_BITS_LARGE_DATAGRAMS_MASK) === 0) return;
    this.peerTakesLargeDatagrams = true;
    this.mtu.raiseCeiling(this.largeCeiling);
  }

  // ================================================================ output

  /** Send what the windows allow, then an ack if one is owed and no data packet carried it. */
  flush(now: number): void {
    if (!this.established) return;
    this.flushData(now);
    if (this.ackPending || this.sackPending) this.sendState(now);
    if (this.writeBlocked && this.outgoing.bytes < this.sendQueueBytes) {
      this.writeBlocked = false;
      this.hooks.writable();
    }
  }

  /** Acks may go out (initiator: handshake done; acceptor: SYN-ACK sent). */
  private get established(): boolean {
    return this.phase === 'open' || this.phase === 'synReceived';
  }

  /**
   * The peer knows this connection: an acceptor has sent its SYN-ACK, an initiator has received
   * one. (A closed connection keeps the answer: the endpoint's linger record depends on it.)
   */
  get isEstablished(): boolean {
    return this.handshook;
  }

  /** Last seq_nr received in order (what our acks carry). */
  get ackNr(): number {
    return this.reorder.ackNr;
  }

  /** seq_nr our next packet will carry. */
  get nextSeqNr(): number {
    return this.flight.nextSeq;
  }

  get synSeqNr(): number {
    return this.synSeq;
  }

  private sendWindow(): number {
    return this.ledbat.sendWindow(this.peerWindow);
  }

  /** Lost packets first, then unsent ones, then new packets from the queue, then the FIN. */
  private flushData(now: number): void {
    const flight = this.flight;
    if (this.blackHoleAskedAt !== 0) return; // nothing goes out until the black-hole question is answered
    if (this.phase !== 'open') {
      // An acceptor sends nothing but the SYN-ACK until the initiator is heard from: if the SYN-ACK
      // were lost, a DATA arriving first would be taken (by libutp) as the start of our stream, and
      // the packets before it would be skipped — bytes missing from a stream that ends cleanly.
      // Queued data waits; the SYN-ACK is sent again in case the initiator's ack of it was lost.
      if (
        (this.outgoing.bytes > 0 || this.finQueued) &&
        this.deadlines[SYN_ACK] === 0 &&
        this.synSends <= SYN_ACK_RESENDS
      ) {
        this.deadlines[SYN_ACK] = now + this.rtt.rtoUs * 2 ** (this.synSends - 1);
      }
      return;
    }
    if (this.peerWindow === 0 && flight.bytesInFlight === 0 && (flight.hasResend || this.outgoing.bytes > 0)) {
      // The peer has no room: only the zero-window probe sends (it opens the window for one packet).
      this.armZeroWindowProbe(now);
      return;
    }
    // The pacer's tokens stay Infinity while it is off: then paceAllows's one comparison per packet
    // never holds anything.
    const pacer = this.pacer;
    // A pacing deadline says the pacer holds data now (LEDBAT's growth reads it): this flush decides
    // afresh. A wait that goes on is not counted again.
    const wasHeld = this.deadlines[PACE] !== 0;
    this.deadlines[PACE] = 0;
    if (this.pacing) {
      // Slow start is not paced: paced, it no longer makes the bursts whose queuing delay LEDBAT
      // ends it on, and it overshot (see docs/design.md, "Pacing").
      if (this.ledbat.slowStarting) pacer.off();
      else {
        // The smoothed RTT lags a queue that just drained (after a loss, say) by many samples, and
        // a rate held down by it sends few packets and so gets few samples: the latest sample, when
        // lower, is the better estimate of how fast a window goes round now.
        const rtt = this.rtt;
        const srtt = rtt.hasSample ? Math.min(rtt.srttUs, rtt.latestUs) : 0;
        pacer.refill(now, this.sendWindow(), srtt, this.mtu.current - HEADER_SIZE);
      }
    }
    // Lost packets go first: they hold up the receiver's in-order delivery. The pacer never holds
    // them (a repair waits for nothing), but they spend its tokens: new data after them waits.
    for (let p = flight.nextResend(); p !== undefined; p = flight.nextResend()) {
      if (flight.bytesInFlight > 0 && flight.bytesInFlight + p.payloadLength > this.sendWindow()) return;
      this.s.retransmits++;
      pacer.tokens -= p.payloadLength;
      this.sendPacket(p, now, true);
    }
    for (let p = flight.nextUnsent(); p !== undefined; p = flight.nextUnsent()) {
      if (flight.bytesInFlight > 0 && flight.bytesInFlight + p.payloadLength > this.sendWindow()) return;
      if (!this.paceAllows(now, p.payloadLength, wasHeld)) return;
      this.sendPacket(p, now, false);
    }
    const maxPayload = this.mtu.current - HEADER_SIZE;
    while (this.outgoing.bytes > 0 && !flight.full) {
      const n = Math.min(this.outgoing.bytes, maxPayload);
      if (this.peerWindow === 0 && flight.bytesInFlight === 0) {
        this.armZeroWindowProbe(now);
        return;
      }
      if (flight.bytesInFlight > 0 && flight.bytesInFlight + n > this.sendWindow()) return;
      if (!this.paceAllows(now, n, wasHeld)) return;
      const p = flight.allocate(n);
      this.layOut(p, ST_DATA);
      this.outgoing.take(p.buf, HEADER_SIZE, n);
      p.length = HEADER_SIZE + n;
      this.sendPacket(p, now, false);
    }
    if (this.outgoing.bytes === 0 && this.finQueued && this.finSeq < 0 && !flight.full) {
      const p = flight.allocate(0);
      this.layOut(p, ST_FIN);
      p.length = HEADER_SIZE;
      this.finSeq = p.seqNr;
      this.sendPacket(p, now, false);
    }
  }

  /**
   * Whether `bytes` of new data may go now; if so they spend the pacer's tokens. If not, they wait
   * for it: a PACE deadline when it has the tokens (an ack may come first). With nothing in flight
   * a packet always goes, as with the window: a zero-window probe, or the first after an idle spell.
   */
  private paceAllows(now: number, bytes: number, wasHeld: boolean): boolean {
    const pacer = this.pacer;
    if (bytes > pacer.tokens && this.flight.bytesInFlight > 0) {
      if (!wasHeld) this.s.pacedWaits++; // a wait that goes on across flushes counts once
      this.deadlines[PACE] = pacer.nextSendAt(now, bytes);
      return false;
    }
    pacer.tokens -= bytes;
    return true;
  }

  /** The parts of a send-buffer packet's header that never change; `sendPacket` stamps the rest. */
  private layOut(p: OutPacket, type: number): void {
    const f = this.fields;
    f.type = type;
    f.connectionId = this.sendId;
    f.seqNr = p.seqNr;
    f.timestamp = 0;
    f.timestampDiff = 0;
    f.windowSize = 0;
    f.ackNr = 0;
    f.extension = EXT_NONE;
    writeHeader(p.buf, f);
  }

  /** Stamp the fields that change per transmission and send a packet from the send buffer. */
  private sendPacket(p: OutPacket, now: number, retransmit: boolean): void {
    restampHeader(p.buf, ts32(now), this.replyMicro, this.advertise(), this.reorder.ackNr);
    // Probe only once the RTT is known: a lost probe is found by its timeout at worst, and the initial
    // RTO (3 s) would stall a connection whose very first packet was a probe too big for the path.
    const probe =
      !retransmit && p.transmissions === 0 && p.payloadLength > 0 && this.rtt.hasSample && this.probeAfter < 0
        ? probeSizeFor(p.length, this.mtu.nextProbe(now))
        : 0;
    if (probe > 0) {
      this.mtu.onProbeSent(p.seqNr, probe);
      // A padded copy: the data goes again unpadded if the probe is lost.
      this.emit(writeProbe(p.buf, p.length, probe), probe, now, false);
    } else if (this.emit(p.buf, p.length, now, retransmit)) {
      // The transport queued the slot's buffer by reference: the slot continues in a copy, so a
      // retransmission (or the next packet in this slot) cannot rewrite the queued datagram.
      p.buf = p.buf.slice();
    }
    this.flight.onSent(p, now);
    this.ackPending = false;
    if (this.deadlines[RTO] === 0) this.deadlines[RTO] = now + this.rtoDelay();
    if (this.tlpArmed && this.tlpCount === 0) this.deadlines[TAIL_PROBE] = now + this.tailProbeDelay();
  }

  private probeLost(): boolean {
    const seq = this.mtu.probeSeq;
    return seq >= 0 && this.flight.get(seq)?.needResend === true;
  }

  private checkProbe(now: number): void {
    const seq = this.mtu.probeSeq;
    if (seq < 0) return;
    const p = this.flight.get(seq);
    if (p === undefined) {
      this.mtu.onProbeAcked(now);
      this.growPackets();
    } else if (p.needResend) {
      this.mtu.onProbeLost(now);
    }
  }

  private growPackets(): void {
    const size = this.mtu.current;
    this.flight.setPacketBytes(size);
    this.ledbat.setPacketSize(size - HEADER_SIZE);
  }

  /**
   * Whether `length` more bytes would exceed the receive buffer by more than one datagram (the one
   * packet a zero-window probe may carry, and what was in flight when the window last shrank).
   */
  private overWindow(length: number): boolean {
    const used = this.reorder.bufferedBytes + this.hooks.unreadBytes();
    return used + length > this.recvWindowBytes + this.largeCeiling;
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
    this.sackPending = false;
    // A fresh buffer per ack: a datagram the OS could not take at once is queued by reference, and
    // rewriting a queued ack would send the same ack twice (a false duplicate at the peer). Acks are
    // batched, so this is one small allocation per batch, not per packet.
    const buf = new Uint8Array(HEADER_SIZE + 2 + MAX_SACK_BYTES);
    // Holes before a FIN are SACKed like any others (libutp does): the sender repairs them by fast
    // retransmit instead of waiting for its retransmission timeout.
    const sackBytes =
      this.reorder.bufferedCount > 0 ? this.reorder.writeSack(buf.subarray(HEADER_SIZE + 2, buf.length)) : 0;
    this.writeControlHeader(
      buf,
      ST_STATE,
      this.sendId,
      now,
      this.flight.nextSeq,
      this.reorder.ackNr,
      sackBytes > 0 ? EXT_SACK : EXT_NONE,
    );
    const length = sackBytes > 0 ? writeSackHeader(buf, HEADER_SIZE, EXT_NONE, sackBytes) : HEADER_SIZE;
    this.emit(buf, length, now, false);
    if (this.finSeq >= 0 && this.eofSeq >= 0) {
      // Both FINs are out, and peers disagree on the seq_nr an ack after our FIN carries: libutp
      // drops a STATE whose seq_nr is not past the FIN (it reads it as old), libtorrent one whose
      // seq_nr is past it (nothing exists beyond a FIN). The same ack again with the FIN's seq_nr:
      // each drops the copy it does not take.
      const again = buf.slice(0, length);
      writeSeqNr(again, this.finSeq);
      this.emit(again, length, now, false);
    }
  }

  /**
   * The SYN-ACK is a STATE carrying our extension bits; its send time gives the acceptor an RTT
   * sample when the initiator acks it at once.
   */
  private sendSynAck(now: number): void {
    this.synSentAt = now;
    this.synSends++;
    this.ackPending = false;
    const buf = new Uint8Array(HEADER_SIZE + EXT_BITS_SIZE);
    this.writeControlHeader(buf, ST_STATE, this.sendId, now, this.flight.nextSeq, this.reorder.ackNr, EXT_BITS);
    writeLargeDatagramsBits(buf, HEADER_SIZE, EXT_NONE);
    this.emit(buf, buf.length, now, false);
  }

  /** FIN-once or RST: a header-only packet outside the send buffer. */
  private writeControl(type: number, now: number, seq: number): void {
    const buf = new Uint8Array(HEADER_SIZE);
    this.writeControlHeader(buf, type, this.sendId, now, seq, this.reorder.ackNr, EXT_NONE);
    this.emit(buf, HEADER_SIZE, now, false);
  }

  /** A whole header for a packet built outside the send buffer (SYN, SYN-ACK, STATE, FIN-once, RST). */
  private writeControlHeader(
    buf: Uint8Array,
    type: number,
    connectionId: number,
    now: number,
    seq: number,
    ack: number,
    extension: number,
  ): void {
    const f = this.fields;
    f.type = type;
    f.connectionId = connectionId;
    f.timestamp = ts32(now);
    // Nothing has been measured before the SYN: replyMicro is 0 then.
    f.timestampDiff = this.replyMicro;
    f.windowSize = this.advertise();
    f.seqNr = seq;
    f.ackNr = ack;
    f.extension = extension;
    writeHeader(buf, f);
  }

  /** Returns true when the transport kept `buf` by reference. */
  private emit(buf: Uint8Array, length: number, now: number, retransmit: boolean): boolean {
    this.s.packetsSent++;
    this.s.bytesSent += length;
    this.lastSentAt = now;
    if (this.hooks.trace) this.traceRecord('out', buf, length, now, retransmit);
    return this.hooks.transmit(buf, length) === true;
  }

  // ================================================================ timers

  /** The earliest time `handleTimeout` has work, or 0 for none. */
  nextDeadline(): number {
    const d = this.deadlines;
    let at = 0;
    for (let i = 0; i < TIMERS; i++) {
      const t = d[i] as number;
      if (t !== 0 && (at === 0 || t < at)) at = t;
    }
    return at;
  }

  handleTimeout(now: number): void {
    if (this.phase === 'closed') return;
    const d = this.deadlines;
    if (d[SYN_ACK] !== 0 && now >= (d[SYN_ACK] as number)) this.onSynAckTimer(now);
    if (d[RTO] !== 0 && now >= (d[RTO] as number)) this.onRto(now);
    if (d[TAIL_PROBE] !== 0 && now >= (d[TAIL_PROBE] as number)) this.onTailProbe(now);
    if (d[ZERO_WINDOW] !== 0 && now >= (d[ZERO_WINDOW] as number)) this.onZeroWindowProbe(now);
    if (d[RACK] !== 0 && now >= (d[RACK] as number)) this.onRackTimer(now);
    if (d[PACE] !== 0 && now >= (d[PACE] as number)) this.onPaceTimer(now);
  }

  private onPaceTimer(now: number): void {
    this.deadlines[PACE] = 0;
    this.flushData(now);
  }

  private onSynAckTimer(now: number): void {
    this.deadlines[SYN_ACK] = 0;
    if (this.phase !== 'synReceived') return;
    this.sendSynAck(now);
    this.flushData(now); // re-arms the next resend while data still waits
  }

  /**
   * Retransmission timeout: everything in flight is taken as lost and goes again, the RTO doubles
   * and LEDBAT falls back to its minimum window. The chart decides (from the count) whether the
   * connection survives it; if it does not, the close that follows stops all this.
   */
  private onRto(now: number): void {
    // Nothing held (or only what waits for a zero window to open, which disarmed this timer).
    if (this.flight.count === 0 || (this.flight.packetsInFlight === 0 && this.blackHoleAskedAt === 0)) {
      this.deadlines[RTO] = 0;
      return;
    }
    // Timeouts shorter than libutp's 1 s floor do not count towards the limit (nor reach the chart,
    // whose only use of them is that limit): a path-scaled RTO repairs tail losses fast, but a peer
    // silent for a few seconds is not given up on sooner than libutp would.
    const counted = this.rtoDelay() >= COUNTED_RTO_US;
    if (counted) this.rtoCount++;
    this.s.timeouts++;
    // Our FIN itself, not any one packet: a FIN SACKed past a lost data packet leaves that packet
    // the only one unacked, and a peer that still misses data is not gone.
    const finOnly =
      this.finSeq >= 0 &&
      this.flight.count === 1 &&
      this.flight.oldestSeq === this.finSeq &&
      this.eofDelivered &&
      this.outgoing.bytes === 0;
    if (counted) this.facts.push({ type: 'RTO_FIRED', count: this.rtoCount, finOnly });
    // Past the limit the chart ends the connection: nothing more goes out.
    if (this.rtoCount > this.maxRetransmits) {
      this.deadlines[RTO] = 0;
      return;
    }
    const probeOnly = this.mtu.probeSeq >= 0 && this.flight.packetsInFlight === 1;
    // The oldest unacked packet went out padded as an MTU probe: its loss says the probe was too
    // big, not that the path stopped carrying what we send (its data goes again unpadded).
    const probeFirst = this.mtu.probeSeq >= 0 && this.mtu.probeSeq === this.flight.oldestSeq;
    if (this.mtu.probeSeq >= 0) this.mtu.onProbeLost(now);
    // libutp: a lone lost MTU probe says nothing about congestion.
    if (!probeOnly) {
      this.rtt.backoff();
      this.ledbat.onTimeout(now);
    }
    this.flight.markAllLost();
    this.deadlines[RTO] = now + this.rtoDelay();
    // Asking whether a black hole swallowed our packets: nothing else goes out until the answer.
    // (An unanswered question is asked again: the question or its answer may have been lost.)
    this.blackHoleAskedAt = 0;
    if (this.rtoCount >= 2 && !probeFirst && this.askBlackHole(now)) return;
    this.flushData(now);
  }

  /**
   * The second timeout in a row on a packet at least as big as what we send now: the path may have
   * stopped carrying packets this big (an MTU black hole, RFC 8899 §4.3). The packets already
   * numbered can only go smaller by being packetized again under the same seq_nrs — safe only if
   * the receiver has none of them. So we ask: a small packet
   * the receiver must ack (an empty DATA at a seq it already has), and send nothing else until an
   * answer. Our last transmission of any of them went out at least a second before the question
   * (it is only asked then), so any ack the receiver sends after we asked reflects everything that
   * transmission could have delivered, unless a round trip took longer than that second. An ack arriving after the question
   * that acks none of them says they did not arrive; `onAck` then takes them back. Returns whether
   * it asked.
   */
  private askBlackHole(now: number): boolean {
    const oldest = this.flight.get(this.flight.oldestSeq);
    if (oldest === undefined || oldest.length <= MTU_FLOOR_DEFAULT || oldest.length < this.mtu.current) return false;
    // The argument below needs a quiet second before the question: tail-loss probes and short
    // timeouts may have resent packets since the last counted timeout.
    if (now - this.flight.newestSentAt() < COUNTED_RTO_US) return false;
    this.blackHoleAskedAt = now;
    this.writeControl(ST_DATA, now, seqAdd(this.flight.oldestSeq, -1));
    return true;
  }

  /**
   * The receiver has none of what is in flight (see askBlackHole): the path stopped carrying
   * packets of the size we send (a black hole, confirmed: a small packet and its answer got
   * through, the big ones did not). Fall back to a smaller size and packetize them again.
   */
  private repacketize(now: number): void {
    this.blackHoleAskedAt = 0;
    const oldest = this.flight.get(this.flight.oldestSeq);
    if (oldest !== undefined && oldest.length >= this.mtu.current) this.mtu.onBlackHole(now);
    const parts = this.flight.rewind();
    if (parts === undefined) return;
    if (this.finSeq >= 0) this.finSeq = -1; // the FIN goes again after the data, at its new seq_nr
    this.outgoing.unshift(parts);
    this.mtu.probeSeq = -1;
    this.tlpSeq = -1;
    this.s.repacketized++;
    this.deadlines[RTO] = 0;
    // The first packets at the new size go unpadded (a lost probe now would cost a backed-off
    // timeout), and a lost tail is found by the tail-loss probe, not the RTO.
    this.probeAfter = this.flight.nextSeq;
    this.tlpArmed = true;
    this.tlpCount = 0;
    this.flushData(now);
  }

  /**
   * The retransmission timeout: the estimator's RTO (SRTT + 4·RTTVAR, at least 50 ms, backed off),
   * but never before the tail-loss probes had their chance — the first at 2·SRTT, the second two
   * such waits later, each answered within an RTT — so the RTO acts only when both got nothing
   * back. That makes the floor scale with the path: max(50 ms, 8·SRTT) before any back-off.
   */
  private rtoDelay(): number {
    const rtt = this.rtt;
    // No sample yet: no tail-loss probe comes first either (its wait would be the RTO's half).
    if (!rtt.hasSample) return rtt.rtoUs;
    const base = Math.max(rtt.baseRtoUs, 4 * this.tailProbeDelay());
    return Math.min(rtt.maxRtoUs, Math.max(rtt.rtoUs, base * 2 ** rtt.backoffCount));
  }

  /**
   * Two smoothed RTTs (at least 10 ms) without an ack while packets are in flight: the tail of a
   * burst may be lost, and nothing after it will produce duplicate acks. The RTO would find it
   * later; resending the newest packet once gets the receiver to ack with a SACK at once,
   * which shows the holes to fast retransmit (the tail-loss probe of TCP RACK-TLP and QUIC's PTO).
   */
  private tailProbeDelay(): number {
    const srtt = this.rtt.hasSample ? this.rtt.srttUs : this.rtt.rtoUs / 2;
    return Math.max(2 * srtt, TAIL_PROBE_MIN_US);
  }

  private onTailProbe(now: number): void {
    this.deadlines[TAIL_PROBE] = 0;
    // MAX_TAIL_PROBES per silence, each waiting twice as long; the RTO takes over after them.
    this.tlpCount++;
    this.tlpArmed = this.tlpCount < MAX_TAIL_PROBES;
    const p = this.flight.newestSent();
    if (p === undefined || p.needResend) return;
    const rto = this.deadlines[RTO] as number;
    if (rto !== 0 && rto - now < this.tailProbeDelay()) return; // the RTO is as near
    this.s.tailProbes++;
    // A padded MTU probe unacked this long is taken as too big; its data goes again at the floor size.
    if (p.seqNr === this.mtu.probeSeq) this.mtu.onProbeLost(now);
    this.tlpSeq = p.seqNr;
    this.tlpSentAt = now;
    this.sendPacket(p, now, true);
    this.deadlines[TAIL_PROBE] = this.tlpArmed ? now + this.tailProbeDelay() * 2 ** this.tlpCount : 0;
  }

  private armZeroWindowProbe(now: number): void {
    if (this.deadlines[ZERO_WINDOW] !== 0) return;
    const wait = Math.min(this.zeroWindowProbeMaxUs, ZERO_WINDOW_PROBE_MIN_US * 2 ** this.zeroWindowBackoff);
    this.deadlines[ZERO_WINDOW] = now + wait;
  }

  private onZeroWindowProbe(now: number): void {
    this.deadlines[ZERO_WINDOW] = 0;
    if (this.peerWindow > 0 || (this.outgoing.bytes === 0 && !this.flight.hasResend)) return;
    this.s.zeroWindowProbes++;
    this.zeroWindowBackoff++;
    // Like libutp's zerowindow_time: pretend the peer has room for one packet.
    this.peerWindow = this.mtu.current - HEADER_SIZE;
    this.flushData(now);
    this.peerWindow = 0;
  }

  /** Consecutive RTOs so far (the chart's guard compares it with the limit). */
  get retransmits(): number {
    return this.rtoCount;
  }

  get retransmitLimit(): number {
    return this.maxRetransmits;
  }

  // ================================================================ observability

  stats(): ConnectionStats {
    const l = this.ledbat.stats();
    const r = this.rtt.stats();
    return {
      cwnd: l.cwnd,
      peerWindow: this.peerWindow,
      recvWindow: this.recvWindow(),
      srttUs: r.srttUs,
      rttvarUs: r.rttvarUs,
      rtoUs: this.rtoDelay(),
      baseDelayUs: l.baseDelayUs,
      queuingDelayUs: l.queuingDelayUs,
      bytesInFlight: this.flight.bytesInFlight,
      packetsInFlight: this.flight.packetsInFlight,
      packetSize: this.mtu.current,
      ...this.s,
      duplicates: this.reorder.duplicates,
      outOfOrder: this.reorder.outOfOrder,
      mtuProbes: this.mtu.probesSent,
      mtuProbesLost: this.mtu.probesLost,
      mtuBlackHoles: this.mtu.blackHoles,
      pacingRate: this.pacer.rateBytesPerSecond,
    };
  }

  private traceRecord(dir: 'in' | 'out', buf: Uint8Array, length: number, now: number, retransmit: boolean): void {
    const record = packetTraceRecord(dir, buf, length, now, retransmit);
    if (record !== undefined) this.hooks.trace?.(record);
  }
}

/** What a trace shows of one datagram (undefined if it is not a well-formed uTP packet). */
export function packetTraceRecord(
  dir: 'in' | 'out',
  buf: Uint8Array,
  length: number,
  now: number,
  retransmit: boolean,
): TraceRecord | undefined {
  const packet = buf.subarray(0, length);
  const layout = createLayout();
  if (scanPacket(packet, layout) !== null) return undefined;
  const h = new PacketHeader(packet);
  let sack: number[] | undefined;
  if (layout.sackOffset >= 0) {
    const list: number[] = [];
    const mask = packet.subarray(layout.sackOffset, layout.sackOffset + layout.sackLength);
    forEachSacked(h.ackNr, mask, (seq) => list.push(seq));
    sack = list;
  }
  return {
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
  };
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
