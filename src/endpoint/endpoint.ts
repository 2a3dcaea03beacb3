/**
 * One UDP port's worth of uTP: demultiplexes datagrams to connections by (remote address, remote
 * port, connection id), accepts SYNs when listening, answers strays with RST, and batches output:
 * connections that have something to send are flushed once after each batch of input, so a burst
 * of incoming data produces one ack, not one per packet.
 *
 * It never touches a socket or a clock itself (sans-IO, like the core): a `Transport` sends, `now()`
 * tells the time and a `TimerQueue` holds deadlines. src/io/utp-socket.ts binds it to node:dgram;
 * src/sim/utp.ts to the simulator.
 */

import { DEFAULT_RECV_WINDOW, packetTraceRecord } from '../core/connection.js';
import type { TimerQueue } from '../core/timer-queue.js';
import {
  Connection,
  type ConnectionConfig,
  type ConnectionEnv,
  type ConnectionTrace,
  type InspectObserver,
} from '../machines/connection.js';
import { createLayout, scanPacket } from '../wire/codec.js';
import { EXT_BITS, EXT_NONE, HEADER_SIZE, ST_DATA, ST_FIN, ST_RESET, ST_STATE, ST_SYN } from '../wire/constants.js';
import { PacketHeader } from '../wire/header.js';
import { seqAdd, seqDiff, ts32, tsDiff } from '../wire/seq.js';
import { EXT_BITS_SIZE, writeHeader, writeLargeDatagramsBits, writeSeqNr } from '../wire/writer.js';

export interface Transport {
  /**
   * Send one datagram. Return true when `buf` is still held by reference after returning (queued,
   * not yet copied to the kernel): the sender must then not write into it again.
   */
  send(buf: Uint8Array, offset: number, length: number, port: number, address: string): unknown;
}

export interface EndpointOptions {
  transport: Transport;
  timers: TimerQueue;
  /** µs clock. */
  now: () => number;
  /** Random numbers in [0, 1): connection ids and initial sequence numbers. */
  random?: () => number;
  /** Defaults for every connection of this endpoint. */
  connection?: ConnectionConfig;
  /** Per-peer settings over `connection` (e.g. a larger MTU ceiling for loopback), for both roles. */
  connectionFor?: (address: string, port: number) => ConnectionConfig | undefined;
  /**
   * SYNs answered whose initiator has not spoken since (the SYN queue). Each costs a small record,
   * not a connection. When it is full, the oldest record is forgotten if it has waited longer than
   * a round trip could take (a flood: its initiator, if real, retries its SYN); otherwise the new
   * SYN is dropped unanswered (a burst of real clients: they retry, as with a full TCP backlog).
   * Default DEFAULT_SYN_QUEUE.
   */
  maxHalfOpen?: number;
  /** Called after output was queued, so the IO driver can schedule `flush()` after the current batch. */
  onNeedFlush?: () => void;
  trace?: ConnectionTrace;
  /** XState inspection observer for every connection's lifecycle actor (the Stately inspector's `inspect`). */
  inspect?: InspectObserver;
}

/**
 * What is kept of a connection that ended without error: enough to ack the peer's late DATA or FIN
 * (a FIN whose ack was lost; the FIN answering our destroy()) instead of resetting it, as libutp
 * goes on acking after utp_close until the peer's FIN.
 */
interface Lingering {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly sendId: number;
  readonly seqNr: number;
  /** Our FIN's seq_nr, or −1: acks go out with both seq_nrs (see ConnectionCore.sendState). */
  readonly finSeq: number;
  /**
   * The last seq the application received in order. Only what it covers is acked again, and the
   * peer's FIN right after it: data beyond it never reached the application, so acking it would
   * tell the sender it arrived. Such data gets a RST instead.
   */
  ackNr: number;
  readonly until: number;
  /** Answered with a RST: forget it. */
  reset: boolean;
}

/**
 * A SYN answered from the SYN queue, before any connection exists (TCP's SYN queue): the
 * connection, its actor and its buffers are created only when the initiator speaks again, so a
 * flood of SYNs costs a few hundred bytes each and draws one SYN-ACK each, nothing more.
 */
interface HalfOpen {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  /** A copy of the SYN (the connection takes its ids, seq_nr, window and extensions from it). */
  readonly syn: Uint8Array;
  /** The seq_nr our SYN-ACK announced: the first of our stream. */
  readonly initialSeq: number;
  readonly answeredAt: number;
  answers: number;
  readonly until: number;
}

/**
 * SYN queue bound: half-open records (~300 bytes each: ~20 MB at most). Large, so that a flood of
 * up to tens of thousands of SYNs a second leaves each record longer than a round trip to be
 * answered in.
 */
export const DEFAULT_SYN_QUEUE = 65_536;
/** A record older than this may be forgotten for a new SYN: a real initiator answers within a round trip. */
const SYN_EVICT_AGE_US = 1_000_000;
/** How long a SYN is remembered (libutp's half-open acceptor lives as long: a keepalive plus a connect timeout). */
const HALF_OPEN_US = 39_000_000;
/** Most linger records and RST-rate records kept; the oldest go first. */
const LINGER_MAX = 8192;
const RESET_RECORDS_MAX = 8192;

/**
 * How long a closed connection's ids are remembered (lazily purged, no timer): TCP's TIME_WAIT
 * (2·MSL, 60 s on Linux). A peer whose FIN's ack was lost retransmits it on a backed-off RTO that
 * reaches 16 s and more on a lossy path; a shorter memory turns its clean end into a RST.
 */
const LINGER_US = 60_000_000;
/** Longer than utp-native's 500 ms between libutp timeout checks, where a socket it closes is freed. */
const RESET_QUIET_US = 2_000_000;

/**
 * The default source of connection ids and initial seq_nrs: the platform's CSPRNG (Web Crypto, in
 * Node and browsers alike). Math.random's xorshift state can be recovered from a few outputs, which
 * would let an off-path attacker who opened one connection predict the ids and seq_nrs of the next.
 */
const randomWord = new Uint32Array(1);
function unpredictable(): number {
  globalThis.crypto.getRandomValues(randomWord);
  return (randomWord[0] as number) / 0x1_0000_0000;
}

export interface EndpointStats {
  datagrams: number;
  /** Datagrams that are not uTP (passed on to `onMessage`). */
  notUtp: number;
  /** uTP packets for no connection we know. */
  unknownConnection: number;
  /** Datagrams with a valid uTP header but a broken extension chain: dropped. */
  malformed: number;
  resetsSent: number;
  /** Late packets of cleanly closed connections answered with an ack. */
  lingerAcks: number;
  /** SYNs answered with a RST: not listening (or closing). */
  synsRejected: number;
  /** SYN-queue records forgotten to make room (older than SYN_EVICT_AGE_US: a flood). */
  synsEvicted: number;
  /** SYNs dropped unanswered: the queue was full of young records (a burst); the initiators retry. */
  synsDropped: number;
  /**
   * SYNs whose id is the receive id of a live connection of ours to the same peer: dropped
   * unanswered. Our SYN-ACK would carry that id, and the peer's answer (a RST, when the SYN was
   * forged off-path) would name our live connection.
   */
  synsClashing: number;
  connectionsAccepted: number;
  connectionsOpened: number;
}

export class Endpoint {
  private readonly opts: EndpointOptions;
  /** Connections by the id they receive on; a list, since ids are only unique per peer. */
  private readonly byRecvId = new Map<number, Connection[]>();
  private readonly dirty: Connection[] = [];
  private readonly layout = createLayout();
  private readonly header = new PacketHeader(new Uint8Array(0));
  private readonly random: () => number;
  /** What every connection of this endpoint gets from it: one object, shared (no closures per connection). */
  private readonly env: ConnectionEnv;
  /** SYNs answered, by "address|port|recvId", oldest first (Map keeps insertion order). */
  private readonly synQueue = new Map<string, HalfOpen>();
  /** Closed connections' ids, by "address|port|recvId", oldest first. */
  private readonly lingering = new Map<string, Lingering>();
  /** When we last reset each peer connection ("address|port|id"), oldest first, for resetAllowed. */
  private readonly resetAt = new Map<string, number>();
  private closing = false;
  /** Connections just created from the SYN queue and the packet that completed their handshake, in pairs. */
  private firstPackets: (Connection | Uint8Array)[] = [];
  /** When set, incoming SYNs create connections handed to this callback. */
  onConnection: ((conn: Connection) => void) | undefined;
  /** Datagrams that are not uTP. */
  onMessage: ((buf: Uint8Array, address: string, port: number) => void) | undefined;
  /** Called when the last connection is gone (for close-when-idle). */
  onEmpty: (() => void) | undefined;
  readonly stats: EndpointStats = {
    datagrams: 0,
    notUtp: 0,
    unknownConnection: 0,
    malformed: 0,
    resetsSent: 0,
    lingerAcks: 0,
    synsRejected: 0,
    synsEvicted: 0,
    synsDropped: 0,
    synsClashing: 0,
    connectionsAccepted: 0,
    connectionsOpened: 0,
  };

  constructor(opts: EndpointOptions) {
    this.opts = opts;
    this.random = opts.random ?? unpredictable;
    const { transport } = opts;
    this.env = {
      timers: opts.timers,
      now: opts.now,
      random16: () => Math.floor(this.random() * 0x10000) & 0xffff,
      transmit: (b, length, c) => transport.send(b, 0, length, c.remotePort, c.remoteAddress),
      needFlush: (c) => this.markDirty(c),
      released: (c) => this.unregister(c),
      trace: opts.trace,
      inspect: opts.inspect,
    };
  }

  get size(): number {
    let n = 0;
    for (const list of this.byRecvId.values()) n += list.length;
    return n;
  }

  connections(): Connection[] {
    return [...this.byRecvId.values()].flat();
  }

  /** Open a connection to a peer. */
  connect(port: number, address: string, config: ConnectionConfig = {}): Connection {
    const id = this.freeRecvId(address, port); // first: it throws when no id is left
    const conn = this.create('initiator', address, port, config);
    conn.connect(id);
    this.register(conn);
    this.stats.connectionsOpened++;
    this.requestFlush();
    return conn;
  }

  /** One datagram from the network. Never throws on any bytes. */
  handleDatagram(buf: Uint8Array, address: string, port: number): void {
    this.stats.datagrams++;
    const layout = this.layout;
    const invalid = scanPacket(buf, layout);
    if (invalid !== null) {
      // A valid header whose extension chain is broken is a damaged or hostile uTP packet, not
      // someone else's protocol sharing the port: drop it rather than hand it to the application.
      if (invalid === 'EXTENSION_OVERRUN' || invalid === 'BAD_SACK_LENGTH') this.stats.malformed++;
      else {
        this.stats.notUtp++;
        this.onMessage?.(buf, address, port);
      }
      return;
    }
    const h = this.header.reset(buf);
    const id = h.connectionId;
    const type = h.type;
    if (type === ST_SYN) {
      this.onSyn(buf, id, address, port);
      return;
    }
    let conn = this.find(id, address, port);
    // A RST may carry either id of the pair (libutp matches both; ethereum/utp broke interop until it
    // did too) — but only the send id of the connection it names, as libutp checks.
    if (conn === undefined && type === ST_RESET) {
      conn = this.find(seqAdd(id, 1), address, port);
      if (conn !== undefined && conn.sendId !== id) conn = undefined;
      if (conn === undefined) {
        conn = this.find(seqAdd(id, -1), address, port);
        if (conn !== undefined && conn.sendId !== id) conn = undefined;
      }
    }
    if (conn === undefined && this.synQueue.size > 0 && this.completeHandshake(buf, id, type, address, port)) return;
    if (conn === undefined && type !== ST_RESET && this.answerLingering(id, type, h.seqNr, address, port)) return;
    if (conn === undefined) {
      this.stats.unknownConnection++;
      if (type !== ST_RESET && this.resetAllowed(id, address, port)) this.sendReset(id, h.seqNr, address, port);
      return;
    }
    conn.handlePacket(buf, layout);
  }

  /** Flush every connection that has output pending. Call after each batch of input or writes. */
  flush(): void {
    const first = this.firstPackets;
    if (first.length > 0) {
      this.firstPackets = [];
      for (let i = 0; i < first.length; i += 2) {
        const conn = first[i] as Connection;
        const buf = first[i + 1] as Uint8Array;
        if (!conn.closed && scanPacket(buf, this.layout) === null) conn.handlePacket(buf, this.layout);
      }
    }
    const list = this.dirty;
    // Flushing may queue more (a send frees window for another): loop until quiet.
    for (let i = 0; i < list.length; i++) (list[i] as Connection).flush();
    list.length = 0;
  }

  /** Stop accepting; with `destroy`, end every connection too. */
  close(destroy = false): void {
    this.onConnection = undefined;
    if (destroy) {
      this.closing = true;
      for (const c of this.connections()) c.destroy();
    }
  }

  private onSyn(buf: Uint8Array, id: number, address: string, port: number): void {
    const recvId = seqAdd(id, 1);
    // A retried SYN for a connection we already accepted goes to it (it re-sends the SYN-ACK).
    const existing = this.find(recvId, address, port);
    if (existing !== undefined) {
      if (existing.core.role === 'acceptor' && existing.sendId === id) existing.handlePacket(buf, this.layout);
      // Its id is taken by a connection of ours to this peer: refuse, and the peer tries another.
      else this.sendReset(id, this.header.reset(buf).seqNr, address, port);
      return;
    }
    if (this.namesLiveConnection(id, address, port)) {
      // Its id is one of a live connection's pair with this peer. Any answer carries that id to the
      // peer: a SYN-ACK the peer refuses with a RST naming our connection (it never sent this SYN,
      // if forged off-path), or our own RST, which names the peer's end. A real initiator that drew
      // this id times out and tries again with another.
      this.stats.synsClashing++;
      return;
    }
    const key = `${address}|${port}|${recvId}`;
    const known = this.synQueue.get(key);
    if (known !== undefined) {
      // Our SYN-ACK was lost and the initiator retried: the same answer again.
      known.answers++;
      this.sendSynAck(known);
      return;
    }
    if (this.onConnection === undefined || this.closing) {
      this.stats.synsRejected++;
      this.sendReset(id, this.header.reset(buf).seqNr, address, port);
      return;
    }
    const now = this.opts.now();
    this.expireSynQueue(now);
    const max = this.opts.maxHalfOpen ?? DEFAULT_SYN_QUEUE;
    while (this.synQueue.size >= max) {
      const oldest = this.synQueue.values().next().value as HalfOpen;
      if (now - oldest.answeredAt < SYN_EVICT_AGE_US) {
        // Full of SYNs answered moments ago: a burst of clients still answering. Dropping this one
        // makes its initiator retry (1 s later) rather than losing one it has already answered.
        this.stats.synsDropped++;
        return;
      }
      // A flood keeps the queue full of records nobody answers; forgetting the oldest keeps room
      // for a real client, which answers within a round trip.
      this.synQueue.delete(oldest.key);
      this.stats.synsEvicted++;
    }
    const record: HalfOpen = {
      key,
      address,
      port,
      syn: buf.slice(),
      initialSeq: Math.floor(this.random() * 0x10000) & 0xffff,
      answeredAt: now,
      answers: 1,
      until: now + HALF_OPEN_US,
    };
    this.synQueue.set(key, record);
    this.traceOwn('in', buf, address, port, recvId);
    this.sendSynAck(record);
  }

  /**
   * Accept a SYN at once, bypassing the SYN queue: the connection (in `synReceived`) exists before
   * its initiator has answered the SYN-ACK, which it sends itself. For tests and tools that must
   * drive the half-open state; the endpoint's own SYN handling never does this.
   */
  acceptNow(syn: Uint8Array, address: string, port: number): Connection {
    const conn = this.create('acceptor', address, port, {});
    conn.accept(syn);
    this.register(conn);
    this.stats.connectionsAccepted++;
    this.requestFlush();
    return conn;
  }

  /** A live connection to this peer receives or sends on `id`. */
  private namesLiveConnection(id: number, address: string, port: number): boolean {
    if (this.find(id, address, port) !== undefined) return true;
    return (
      this.find(seqAdd(id, 1), address, port)?.sendId === id || this.find(seqAdd(id, -1), address, port)?.sendId === id
    );
  }

  /** SYNs answered whose initiators have not spoken since (expired records dropped first). */
  get halfOpen(): number {
    this.expireSynQueue(this.opts.now());
    return this.synQueue.size;
  }

  private expireSynQueue(now: number): void {
    for (const [key, r] of this.synQueue) {
      if (r.until > now) break;
      this.synQueue.delete(key);
    }
  }

  /**
   * The SYN-ACK for a SYN-queue record: a STATE acking the SYN, its seq_nr the first of our stream,
   * with our extension bits. What the connection, once created, would have sent (ConnectionCore's
   * sendSynAck).
   */
  private sendSynAck(r: HalfOpen): void {
    const syn = this.header.reset(r.syn);
    const now = this.opts.now();
    const buf = new Uint8Array(HEADER_SIZE + EXT_BITS_SIZE);
    writeHeader(buf, {
      type: ST_STATE,
      connectionId: syn.connectionId,
      timestamp: ts32(now),
      timestampDiff: syn.timestamp === 0 ? 0 : tsDiff(ts32(now), syn.timestamp),
      windowSize: this.configFor(r.address, r.port).recvWindowBytes ?? DEFAULT_RECV_WINDOW,
      seqNr: r.initialSeq,
      ackNr: syn.seqNr,
      extension: EXT_BITS,
    });
    writeLargeDatagramsBits(buf, HEADER_SIZE, EXT_NONE);
    this.traceOwn('out', buf, r.address, r.port, seqAdd(syn.connectionId, 1));
    this.opts.transport.send(buf, 0, buf.length, r.port, r.address);
  }

  /**
   * Packets the endpoint itself receives or sends for a connection that does not exist (yet, or
   * any more) — SYN-queue handshakes, linger acks, RSTs — in the same trace as the connections'.
   */
  private traceOwn(dir: 'in' | 'out', buf: Uint8Array, address: string, port: number, localId: number): void {
    const trace = this.opts.trace;
    if (trace === undefined) return;
    const r = packetTraceRecord(dir, buf, buf.length, this.opts.now(), false);
    if (r !== undefined) trace({ ...r, remoteAddress: address, remotePort: port, localId });
  }

  /**
   * A packet for no connection: if it answers a SYN we hold, the handshake is complete — create the
   * connection, hand it to the application, and give it the packet. A utpx initiator acks the
   * SYN-ACK at once; a libutp one speaks when it has data (or a keepalive, acking one less).
   */
  private completeHandshake(buf: Uint8Array, recvId: number, type: number, address: string, port: number): boolean {
    const key = `${address}|${port}|${recvId}`;
    const r = this.synQueue.get(key);
    if (r === undefined) return false;
    if (type === ST_RESET) {
      this.synQueue.delete(key);
      return true;
    }
    const behind = seqDiff(seqAdd(r.initialSeq, -1), this.header.reset(buf).ackNr);
    if (behind < 0 || behind > 1) return false; // not an answer to our SYN-ACK: a stray (or forged) packet
    this.synQueue.delete(key);
    if (this.onConnection === undefined || this.closing) return false;
    const conn = this.create('acceptor', address, port, {});
    conn.accept(r.syn, r.initialSeq, { at: r.answeredAt, count: r.answers });
    this.register(conn);
    this.stats.connectionsAccepted++;
    this.onConnection(conn);
    // The packet itself is handled at the next flush, as net delivers a new socket's first data on
    // a later turn: listeners attached after 'connection' (even after an await) see all of it.
    this.firstPackets.push(conn, buf.slice());
    this.requestFlush();
    return true;
  }

  private configFor(address: string, port: number): ConnectionConfig {
    return { ...this.opts.connection, ...this.opts.connectionFor?.(address, port) };
  }

  private create(role: 'initiator' | 'acceptor', address: string, port: number, config: ConnectionConfig): Connection {
    return new Connection(role, address, port, this.env, { ...this.configFor(address, port), ...config });
  }

  private markDirty(c: Connection): void {
    if (c.flushQueued) return;
    c.flushQueued = true;
    this.dirty.push(c);
    this.requestFlush();
  }

  private requestFlush(): void {
    this.opts.onNeedFlush?.();
  }

  private find(recvId: number, address: string, port: number): Connection | undefined {
    const list = this.byRecvId.get(recvId);
    if (list === undefined) return undefined;
    for (let i = 0; i < list.length; i++) {
      const c = list[i] as Connection;
      if (c.remotePort === port && c.remoteAddress === address) return c;
    }
    return undefined;
  }

  /**
   * A random receive id R for a new connection to this peer such that neither R nor R + 1 (our send
   * id) is either id of a live connection's pair with it, nor R a lingering one's (16-bit ids clash
   * by the birthday bound once a few hundred connections share one peer). The peer drops a SYN
   * whose id touches a live pair unanswered (see onSyn), and every retry would carry the same id:
   * that rules out R − 1, R and R + 1 of each live pair (R, R + 1). Random draws first; with the id
   * space nearly used up (over ~20,000 connections to one peer), a scan from a random start.
   */
  private freeRecvId(address: string, port: number): number {
    const free = (id: number): boolean =>
      !this.namesLiveConnection(id, address, port) &&
      !this.namesLiveConnection(seqAdd(id, 1), address, port) &&
      !this.lingering.has(`${address}|${port}|${id}`);
    let id = 0;
    for (let tries = 0; tries < 64; tries++) {
      id = Math.floor(this.random() * 0x10000) & 0xffff;
      if (free(id)) return id;
    }
    for (let k = 1; k < 0x10000; k++) {
      const next = (id + k) & 0xffff;
      if (free(next)) return next;
    }
    throw Object.assign(new Error(`no connection id left towards ${address}:${port}`), { code: 'EADDRNOTAVAIL' });
  }

  private register(c: Connection): void {
    if (c.closed) return;
    const id = c.recvId;
    const list = this.byRecvId.get(id);
    if (list === undefined) this.byRecvId.set(id, [c]);
    else list.push(c);
  }

  private unregister(c: Connection): void {
    const list = this.byRecvId.get(c.recvId);
    if (list !== undefined) {
      const i = list.indexOf(c);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byRecvId.delete(c.recvId);
    }
    if (c.outcome === 'closed' || (c.outcome === 'destroyed' && c.code === undefined && c.core.isEstablished)) {
      this.linger(c);
    } else if (c.outcome === 'destroyed' && c.code !== undefined)
      this.resetAllowed(c.recvId, c.remoteAddress, c.remotePort);
    if (this.byRecvId.size === 0) this.onEmpty?.();
  }

  private linger(c: Connection): void {
    const now = this.opts.now();
    const key = `${c.remoteAddress}|${c.remotePort}|${c.recvId}`;
    this.expireLingering(now);
    while (this.lingering.size >= LINGER_MAX) this.lingering.delete(this.lingering.keys().next().value as string);
    this.lingering.delete(key); // re-inserted at the end: the map stays in expiry order
    this.lingering.set(key, {
      key,
      address: c.remoteAddress,
      port: c.remotePort,
      sendId: c.sendId,
      seqNr: c.core.nextSeqNr,
      finSeq: c.core.finSeq,
      ackNr: c.core.ackNr,
      until: now + LINGER_US,
      reset: false,
    });
  }

  private expireLingering(now: number): void {
    for (const [key, l] of this.lingering) {
      if (l.until > now) break;
      this.lingering.delete(key);
    }
  }

  private answerLingering(recvId: number, type: number, seqNr: number, address: string, port: number): boolean {
    if (this.lingering.size === 0) return false;
    const now = this.opts.now();
    this.expireLingering(now);
    const l = this.lingering.get(`${address}|${port}|${recvId}`);
    if (l === undefined || l.reset) return false;
    // Only data and FIN are answered; answering a STATE could ping-pong with a peer that lingers too.
    if (type !== ST_DATA && type !== ST_FIN) return true;
    const next = seqAdd(l.ackNr, 1);
    if (seqNr === next && type === ST_FIN) {
      l.ackNr = seqNr; // the peer's FIN right after all it sent: its stream ends cleanly
    } else if (seqDiff(seqNr, l.ackNr) > 0) {
      // New data the application will never read (it closed or destroyed its socket): the
      // sender must learn that it did not arrive.
      l.reset = true;
      if (this.resetAllowed(recvId, address, port)) this.sendReset(l.sendId, seqNr, address, port);
      return true;
    }
    const buf = new Uint8Array(HEADER_SIZE);
    writeHeader(buf, {
      type: ST_STATE,
      connectionId: l.sendId,
      timestamp: ts32(now),
      timestampDiff: 0,
      windowSize: 0xffff,
      seqNr: l.seqNr,
      ackNr: l.ackNr,
      extension: EXT_NONE,
    });
    this.stats.lingerAcks++;
    this.traceOwn('out', buf, address, port, recvId);
    this.opts.transport.send(buf, 0, HEADER_SIZE, port, address);
    if (l.finSeq >= 0) {
      const again = buf.slice();
      writeSeqNr(again, l.finSeq);
      this.traceOwn('out', again, address, port, recvId);
      this.opts.transport.send(again, 0, HEADER_SIZE, port, address);
    }
    return true;
  }

  /**
   * One RST per peer connection per RESET_QUIET_US, however many of its packets arrive: libutp
   * turns a socket it is already closing back into CS_RESET on a second RST and never frees it
   * (utp-native then never emits 'close'). A connection we reset ourselves counts as answered.
   */
  private resetAllowed(id: number, address: string, port: number): boolean {
    const now = this.opts.now();
    const key = `${address}|${port}|${id}`;
    // Oldest first: expired records leave from the front, so each packet costs O(1) amortized.
    for (const [k, t] of this.resetAt) {
      if (now - t < RESET_QUIET_US) break;
      this.resetAt.delete(k);
    }
    const last = this.resetAt.get(key);
    if (last !== undefined && now - last < RESET_QUIET_US) return false;
    this.resetAt.delete(key);
    while (this.resetAt.size >= RESET_RECORDS_MAX) this.resetAt.delete(this.resetAt.keys().next().value as string);
    this.resetAt.set(key, now);
    return true;
  }

  /**
   * RST for a packet that belongs to no connection (never in reply to a RST). Never one that names a
   * live connection of ours with this peer: a packet carrying such an id is nobody's (forged, or
   * our own reflected), and a RST with it would reach the peer's end of that connection and reset
   * it (a RST may carry the receiver's own id: libtorrent's do).
   */
  private sendReset(connectionId: number, seqNr: number, address: string, port: number): void {
    if (this.namesLiveConnection(connectionId, address, port)) return;
    const buf = new Uint8Array(HEADER_SIZE);
    writeHeader(buf, {
      type: ST_RESET,
      connectionId,
      timestamp: ts32(this.opts.now()),
      timestampDiff: 0,
      windowSize: 0,
      seqNr: Math.floor(this.random() * 0x10000),
      ackNr: seqNr,
      extension: EXT_NONE,
    });
    this.stats.resetsSent++;
    this.traceOwn('out', buf, address, port, connectionId);
    this.opts.transport.send(buf, 0, HEADER_SIZE, port, address);
  }
}
