/**
 * One UDP port's worth of uTP: demultiplexes datagrams to connections by (remote address, remote
 * port, connection id), accepts SYNs when listening, answers strays with RST, and batches output:
 * connections that have something to send are flushed once after each batch of input, so a burst
 * of incoming data produces one ack, not one per packet.
 *
 * It never touches a socket or a clock itself: a `Transport` sends, `now()` tells the time and a
 * `TimerQueue` holds deadlines. src/io/socket.ts binds it to node:dgram; src/sim to the simulator.
 */
import type { TimerQueue } from '../core/timer-queue.js';
import {
  Connection,
  type ConnectionConfig,
  type ConnectionTrace,
  type InspectObserver,
} from '../machines/connection.js';
import { createLayout, scanPacket } from '../wire/codec.js';
import { HEADER_SIZE, ST_DATA, ST_FIN, ST_RESET, ST_STATE, ST_SYN, UTP_VERSION } from '../wire/constants.js';
import { PacketHeader } from '../wire/header.js';
import { seqAdd, seqDiff, ts32 } from '../wire/seq.js';

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
   * Most incoming connections not yet heard from since their SYN (libutp rejects past 3000
   * sockets); SYNs past it are dropped (counted in stats.synsDropped) and retried by the initiator.
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
  readonly address: string;
  readonly port: number;
  readonly sendId: number;
  readonly seqNr: number;
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
 * How long a closed connection's ids are remembered (lazily purged, no timer): TCP's TIME_WAIT
 * (2·MSL, 60 s on Linux). A peer whose FIN's ack was lost retransmits it on a backed-off RTO that
 * reaches 16 s and more on a lossy path; a shorter memory turns its clean end into a RST.
 */
const LINGER_US = 60_000_000;
const LINGER_PURGE_AT = 1024;
/** Longer than utp-native's 500 ms between libutp timeout checks, where a socket it closes is freed. */
const RESET_QUIET_US = 2_000_000;

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
  /** SYNs dropped without an answer: the half-open backlog (maxHalfOpen) was full. */
  synsDropped: number;
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
  /** Accepted connections not heard from since their SYN (pruned lazily). */
  private readonly halfOpen = new Set<Connection>();
  private readonly lingering = new Map<number, Lingering[]>();
  /** When we last reset each peer connection ("address|port|id"), for resetAllowed. */
  private readonly resetAt = new Map<string, number>();
  private lingerCount = 0;
  private closing = false;
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
    synsDropped: 0,
    connectionsAccepted: 0,
    connectionsOpened: 0,
  };

  constructor(opts: EndpointOptions) {
    this.opts = opts;
    this.random = opts.random ?? Math.random;
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
    const conn = this.create('initiator', address, port, config);
    conn.connect(this.freeRecvId(address, port));
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
    // A retried SYN for a connection we already accepted goes to it (it re-sends the SYN-ACK).
    const existing = this.find(seqAdd(id, 1), address, port);
    if (existing !== undefined) {
      if (existing.core.role === 'acceptor' && existing.sendId === id) existing.handlePacket(buf, this.layout);
      // Its id is taken by a connection of ours to this peer: refuse, and the peer tries another.
      else this.sendReset(id, this.header.reset(buf).seqNr, address, port);
      return;
    }
    if (this.onConnection === undefined || this.closing) {
      this.stats.synsRejected++;
      this.sendReset(id, this.header.reset(buf).seqNr, address, port);
      return;
    }
    const maxHalfOpen = this.opts.maxHalfOpen ?? 64;
    if (this.halfOpen.size >= maxHalfOpen) {
      for (const c of this.halfOpen) if (c.connected || c.closed) this.halfOpen.delete(c);
    }
    if (this.halfOpen.size >= maxHalfOpen) {
      // A full backlog drops the SYN, as a full TCP accept queue does: the initiator's SYN retry
      // gets in once there is room, where a RST would fail it.
      this.stats.synsDropped++;
      return;
    }
    const conn = this.create('acceptor', address, port, {});
    conn.accept(buf);
    this.register(conn);
    this.halfOpen.add(conn);
    this.stats.connectionsAccepted++;
    this.onConnection(conn);
    this.requestFlush();
  }

  private create(role: 'initiator' | 'acceptor', address: string, port: number, config: ConnectionConfig): Connection {
    const { transport } = this.opts;
    const random16 = () => Math.floor(this.random() * 0x10000) & 0xffff;
    return new Connection(
      role,
      address,
      port,
      {
        timers: this.opts.timers,
        now: this.opts.now,
        random16,
        transmit: (b, length, c) => transport.send(b, 0, length, c.remotePort, c.remoteAddress),
        needFlush: (c) => this.markDirty(c),
        released: (c) => this.unregister(c),
        trace: this.opts.trace,
        inspect: this.opts.inspect,
      },
      { ...this.opts.connection, ...this.opts.connectionFor?.(address, port), ...config },
    );
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
   * A receive id no connection to this peer uses, live or lingering (16-bit ids clash by the
   * birthday bound once a few hundred connections share one peer; libutp draws again too).
   */
  private freeRecvId(address: string, port: number): number {
    for (;;) {
      const id = Math.floor(this.random() * 0x10000) & 0xffff;
      if (this.find(id, address, port) !== undefined) continue;
      if (this.lingering.get(id)?.some((l) => l.port === port && l.address === address) === true) continue;
      return id;
    }
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
    this.halfOpen.delete(c);
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
    if (this.lingerCount >= LINGER_PURGE_AT) {
      for (const [id, list] of this.lingering) {
        const kept = list.filter((l) => l.until > now);
        this.lingerCount -= list.length - kept.length;
        if (kept.length === 0) this.lingering.delete(id);
        else this.lingering.set(id, kept);
      }
      if (this.lingerCount >= LINGER_PURGE_AT) return;
    }
    const record: Lingering = {
      address: c.remoteAddress,
      port: c.remotePort,
      sendId: c.sendId,
      seqNr: c.core.nextSeqNr,
      ackNr: c.core.ackNr,
      until: now + LINGER_US,
      reset: false,
    };
    const list = this.lingering.get(c.recvId);
    if (list === undefined) this.lingering.set(c.recvId, [record]);
    else list.push(record);
    this.lingerCount++;
  }

  private answerLingering(recvId: number, type: number, seqNr: number, address: string, port: number): boolean {
    const list = this.lingering.get(recvId);
    if (list === undefined) return false;
    const now = this.opts.now();
    for (const l of list) {
      if (l.port !== port || l.address !== address || l.until <= now || l.reset) continue;
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
      const h = new PacketHeader(buf);
      h.type = ST_STATE;
      h.version = UTP_VERSION;
      h.connectionId = l.sendId;
      h.timestamp = ts32(now);
      h.windowSize = 0xffff;
      h.seqNr = l.seqNr;
      h.ackNr = l.ackNr;
      this.stats.lingerAcks++;
      this.opts.transport.send(buf, 0, HEADER_SIZE, port, address);
      return true;
    }
    return false;
  }

  /**
   * One RST per peer connection per RESET_QUIET_US, however many of its packets arrive: libutp
   * turns a socket it is already closing back into CS_RESET on a second RST and never frees it
   * (utp-native then never emits 'close'). A connection we reset ourselves counts as answered.
   */
  private resetAllowed(id: number, address: string, port: number): boolean {
    const now = this.opts.now();
    const key = `${address}|${port}|${id}`;
    const last = this.resetAt.get(key);
    if (last !== undefined && now - last < RESET_QUIET_US) return false;
    if (this.resetAt.size >= LINGER_PURGE_AT) {
      for (const [k, t] of this.resetAt) if (now - t >= RESET_QUIET_US) this.resetAt.delete(k);
    }
    this.resetAt.set(key, now);
    return true;
  }

  /** RST for a packet that belongs to no connection (never in reply to a RST). */
  private sendReset(connectionId: number, seqNr: number, address: string, port: number): void {
    const buf = new Uint8Array(HEADER_SIZE);
    const h = new PacketHeader(buf);
    h.type = ST_RESET;
    h.version = UTP_VERSION;
    h.connectionId = connectionId;
    h.timestamp = ts32(this.opts.now());
    h.seqNr = Math.floor(this.random() * 0x10000);
    h.ackNr = seqNr;
    this.stats.resetsSent++;
    this.opts.transport.send(buf, 0, HEADER_SIZE, port, address);
  }
}
