/**
 * One uTP connection as a Node Duplex stream, with `net.Socket`'s names where they mean the same
 * thing ('connect', remoteAddress, setTimeout, bytesRead, readyState, 'close' with hadError, …)
 * and utp-native's defaults (allowHalfOpen: true).
 *
 * Backpressure is real in both directions. Writing: a chunk's callback is held while the
 * connection's send queue is over its limit and released on drain, so `write()` returns false and
 * 'drain' comes exactly when the protocol has room. Reading: bytes the application has not read yet
 * (`readableLength`) are subtracted from the receive window we advertise, so a paused reader makes
 * the peer stop; `_read()` tells the connection, which reopens the window with an ack.
 */
import { Duplex } from 'node:stream';
import type { ConnectionStats } from '../core/connection.js';
import type { Connection } from '../machines/connection.js';
import type { Outcome } from '../machines/connection.machine.js';
import { checkSignal, type ResolvedConfig, resolveConfig, type UtpSocketOptions } from './config.js';
import {
  AbortError,
  ConnectionError,
  invalidArgType,
  isConnectionErrorCode,
  LocalError,
  outOfRange,
} from './errors.js';

export interface AddressInfo {
  address: string;
  family: string;
  port: number;
}

/** What a socket needs from the UDP socket it runs on. */
export interface SocketHost {
  address(): AddressInfo;
  /** Output or timers changed outside a datagram batch: flush and re-arm soon. */
  kick(): void;
  /** The socket no longer needs the UDP socket (its connection is gone). Called once. */
  release(socket: Socket): void;
  /** The socket was ref'd or unref'd: the UDP port holds the process open while any of its sockets want it. */
  refChanged(socket: Socket, refed: boolean): void;
}

/** The lifecycle chart's top-level state (src/machines/connection.machine.ts); 'idle' before there is a connection. */
export type SocketState =
  | 'idle'
  | 'connecting'
  | 'synReceived'
  | 'connected'
  | 'closed'
  | 'reset'
  | 'timedOut'
  | 'refused'
  | 'destroyed';

export type { Outcome };

/** `socket.stats()`: the connection's protocol statistics and the stream's byte counts. */
export interface SocketStats extends ConnectionStats {
  /** Bytes delivered to the application. */
  bytesRead: number;
  /** Bytes the application wrote (accepted by the stream; not necessarily sent yet). */
  bytesWritten: number;
  /** Where the lifecycle chart is. */
  state: SocketState;
  /** How the connection ended; undefined while it is open. */
  outcome: Outcome | undefined;
}

/** net.Socket's readyState. */
export type ReadyState = 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed';

/** Options of `new Socket(options)`; the UDP options apply to the port `socket.connect()` opens. */
export interface SocketConstructorOptions extends UtpSocketOptions {
  /** Destroys the socket with an AbortError when aborted (as net's `signal`). */
  signal?: AbortSignal;
}

/** What each event passes its listeners. */
export interface SocketEvents {
  /** The handshake completed (for an accepted socket: the initiator was heard from after its SYN). */
  connect: () => void;
  /** Right after 'connect', as net emits it. */
  ready: () => void;
  /** A host name was resolved (not emitted for IP literals). */
  lookup: (err: Error | null, address: string, family: number | string, host: string) => void;
  data: (data: Buffer) => void;
  end: () => void;
  drain: () => void;
  finish: () => void;
  /** `setTimeout`'s idle time passed. The socket stays open. */
  timeout: () => void;
  error: (err: Error) => void;
  /** Once, at the very end; `hadError` is true when the socket was destroyed with an error. */
  close: (hadError: boolean) => void;
  pause: () => void;
  resume: () => void;
  readable: () => void;
}

type Callback = (err?: Error | null) => void;

/** Receive staging slab: in-order bytes of one input batch are pushed to the stream as one chunk. */
const SLAB_BYTES = 64 * 1024;

/** Set by utp-socket.ts: opens a one-off UDP port for a socket made with `new Socket()`. */
type OneOffConnect = (socket: Socket, args: unknown[], config: ResolvedConfig) => void;
let oneOffConnect: OneOffConnect | undefined;
/** @internal */
export function registerOneOffConnect(fn: OneOffConnect): void {
  oneOffConnect = fn;
}

/** The checked options of a socket made by the library (createSocket), so they are not checked again. */
let presetConfig: ResolvedConfig | undefined;

/** @internal A socket for a UDP socket's connection, with options already checked. */
export function createSocket(config: ResolvedConfig): Socket {
  presetConfig = config;
  try {
    return new Socket();
  } finally {
    presetConfig = undefined;
  }
}

const ZERO_STATS: ConnectionStats = {
  cwnd: 0,
  peerWindow: 0,
  recvWindow: 0,
  srttUs: 0,
  rttvarUs: 0,
  rtoUs: 0,
  baseDelayUs: 0,
  queuingDelayUs: 0,
  bytesInFlight: 0,
  packetsInFlight: 0,
  packetSize: 0,
  packetsSent: 0,
  packetsReceived: 0,
  bytesSent: 0,
  bytesReceived: 0,
  bytesAcked: 0,
  retransmits: 0,
  fastRetransmits: 0,
  timeouts: 0,
  duplicates: 0,
  outOfOrder: 0,
  invalidAcks: 0,
  windowDrops: 0,
  repacketized: 0,
  zeroWindowProbes: 0,
  tailProbes: 0,
  mtuProbes: 0,
  mtuProbesLost: 0,
  mtuBlackHoles: 0,
  pacedWaits: 0,
  pacingRate: 0,
};

/** A listener of any event, as EventEmitter takes it. */
// biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own listener type
type AnyListener = (...args: any[]) => void;

export interface Socket {
  on<E extends keyof SocketEvents>(event: E, listener: SocketEvents[E]): this;
  on(event: string | symbol, listener: AnyListener): this;
  once<E extends keyof SocketEvents>(event: E, listener: SocketEvents[E]): this;
  once(event: string | symbol, listener: AnyListener): this;
  off<E extends keyof SocketEvents>(event: E, listener: SocketEvents[E]): this;
  off(event: string | symbol, listener: AnyListener): this;
  addListener<E extends keyof SocketEvents>(event: E, listener: SocketEvents[E]): this;
  addListener(event: string | symbol, listener: AnyListener): this;
  removeListener<E extends keyof SocketEvents>(event: E, listener: SocketEvents[E]): this;
  removeListener(event: string | symbol, listener: AnyListener): this;
  prependListener<E extends keyof SocketEvents>(event: E, listener: SocketEvents[E]): this;
  prependListener(event: string | symbol, listener: AnyListener): this;
  prependOnceListener<E extends keyof SocketEvents>(event: E, listener: SocketEvents[E]): this;
  prependOnceListener(event: string | symbol, listener: AnyListener): this;
  emit<E extends keyof SocketEvents>(event: E, ...args: Parameters<SocketEvents[E]>): boolean;
  emit(event: string | symbol, ...args: unknown[]): boolean;
}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: typed event overloads, as @types/node declares net.Socket's
export class Socket extends Duplex {
  /** The peer's address (undefined on a `new Socket()` until connect()). */
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  remoteFamily: 'IPv4' | 'IPv6' | undefined;
  bytesRead = 0;
  bytesWritten = 0;
  /** The protocol connection, once there is one (an outgoing socket gets it after bind and name lookup). */
  connection: Connection | undefined;
  /** True for a socket that connected out, false for one a server accepted. */
  initiator = true;
  private host: SocketHost | null = null;
  private readonly config: ResolvedConfig;
  /** A write that did not fit yet: released on drain, or replayed once the connection exists. */
  private heldCallback: Callback | null = null;
  private pendingChunks: Buffer[] | null = null;
  private finalCallback: Callback | null = null;
  private finalPending = false;
  private released = false;
  private isConnecting = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleMs = 0;
  private refed = true;
  /** resetAndDestroy(): end with a RST, without an error of our own. */
  private resetRequested = false;
  /** A listener threw inside protocol processing; the socket is being destroyed with its error. */
  private broken = false;
  /**
   * In-order payloads of the current input batch, copied into one slab and pushed as one chunk when
   * the batch ends (or the slab fills): one `push` per event-loop turn instead of one per datagram.
   */
  private slab: Buffer | null = null;
  private slabUsed = 0;
  private stagedFrom = 0;

  constructor(options: SocketConstructorOptions = {}) {
    const config = presetConfig ?? resolveConfig(options);
    presetConfig = undefined;
    super({ allowHalfOpen: config.allowHalfOpen, emitClose: false, autoDestroy: true });
    this.config = config;
    const signal = checkSignal((options as { signal?: unknown }).signal, 'options.signal');
    if (signal !== undefined) this.watchSignal(signal);
  }

  /**
   * net's `socket.connect()` for a socket made with `new Socket()`: opens a UDP port of its own, as
   * `connect()` does. `connect(port, [host], [cb])` or `connect({ port, host, … }, [cb])`.
   */
  connect(port: number | string, host?: string, connectListener?: () => void): this;
  connect(port: number | string, connectListener?: () => void): this;
  connect(options: ConnectOptionsLike, connectListener?: () => void): this;
  connect(...args: unknown[]): this {
    if (this.host !== null || this.isConnecting) {
      throw new LocalError('ERR_SOCKET_CONNECTING', 'Socket is already connecting or connected');
    }
    if (this.destroyed) throw new LocalError('ERR_SOCKET_CLOSED', 'Socket is closed');
    (oneOffConnect as OneOffConnect)(this, args, this.config);
    return this;
  }

  /** @internal Bind the stream to the UDP socket it runs on, before the connection exists. */
  init(host: SocketHost, remoteAddress: string, remotePort: number, outgoing: boolean): void {
    this.host = host;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
    this.remoteFamily = remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
    this.isConnecting = outgoing;
    this.initiator = outgoing;
    if (!this.refed) host.refChanged(this, false);
  }

  /** net.Socket's: true until 'connect'. */
  get connecting(): boolean {
    return this.isConnecting;
  }

  /** net.Socket's: true until 'connect' (and for a socket never connected). */
  get pending(): boolean {
    return this.isConnecting || this.host === null;
  }

  /** net.Socket's readyState. */
  get readyState(): ReadyState {
    if (this.pending) return this.destroyed ? 'closed' : 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  /** The idle timeout set with setTimeout (0: none), as net's `socket.timeout`. */
  get timeout(): number | undefined {
    return this.idleMs === 0 ? undefined : this.idleMs;
  }

  /** @internal Bind the protocol connection to this stream. */
  attach(conn: Connection): void {
    this.connection = conn;
    this.remoteAddress = conn.remoteAddress;
    this.remotePort = conn.remotePort;
    this.remoteFamily = conn.remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
    // The socket itself takes the connection's events (its methods below): no closures per connection.
    conn.events = this;
    if (this.destroyed) {
      conn.destroy(this.resetRequested ? 'ECONNRESET' : undefined);
      return;
    }
    const chunks = this.pendingChunks;
    if (chunks !== null) {
      this.pendingChunks = null;
      this.writeChunks(chunks, this.heldCallback as Callback);
    }
    if (this.finalPending) {
      this.finalPending = false;
      conn.end();
    }
    this.host?.kick();
  }

  /** @internal The connection could not even start (name lookup, bind, wrong address family). */
  fail(err: Error): void {
    this.destroy(err);
  }

  /**
   * @internal The kernel reported the peer's port unreachable (ICMP, on a one-off connect's own
   * UDP port): while connecting, that is a refusal, as a RST would be.
   */
  unreachable(): void {
    const conn = this.connection;
    if (conn === undefined || conn.closed || !this.isConnecting) return;
    conn.actor.send({ type: 'RESET_RECEIVED' });
    this.host?.kick();
  }

  /** The local address and port (of the UDP socket the connection runs on); null once closed. */
  address(): AddressInfo | null {
    if (this.host === null || (this.destroyed && this.released)) return null;
    try {
      return this.host.address();
    } catch {
      return null;
    }
  }

  get localAddress(): string | undefined {
    return this.address()?.address;
  }

  get localPort(): number | undefined {
    return this.address()?.port;
  }

  get localFamily(): string | undefined {
    return this.address()?.family;
  }

  /**
   * Emit 'timeout' after `ms` without traffic in either direction (0 turns it off). Like net, the
   * socket stays open: closing it is the listener's decision.
   */
  setTimeout(ms: number, onTimeout?: () => void): this {
    if (typeof ms !== 'number') throw invalidArgType('msecs', 'of type number', ms);
    if (!(ms >= 0) || !Number.isFinite(ms)) throw outOfRange('msecs', 'a non-negative finite number', ms);
    if (onTimeout !== undefined) {
      if (typeof onTimeout !== 'function') throw invalidArgType('callback', 'of type function', onTimeout);
      if (ms === 0) this.off('timeout', onTimeout);
      else this.once('timeout', onTimeout);
    }
    this.clearIdleTimer();
    this.idleMs = Math.floor(ms);
    if (this.idleMs > 0 && !this.destroyed) {
      this.idleTimer = setTimeout(() => this.emit('timeout'), this.idleMs);
      // net's socket timeouts do not hold the process open on their own either.
      this.idleTimer.unref();
    }
    return this;
  }

  /** net's: uTP sends each write at once (no Nagle delay), so there is nothing to turn off. */
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  /**
   * net's: uTP keeps every connection alive with its own keepalive (an empty STATE packet after
   * `connection.keepaliveMs` of silence, 29 s by default), on whatever this says.
   */
  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this;
  }

  /** utp-native compatibility: a latency hint libutp used; utpx delivers every packet as it arrives. */
  setInteractive(_interactive: boolean): this {
    return this;
  }

  /** utp-native compatibility: a buffering hint for libutp; utpx needs none. */
  setContentSize(_size: number): this {
    return this;
  }

  /** The connection keeps the process open (the default). */
  ref(): this {
    if (!this.refed) {
      this.refed = true;
      if (!this.released) this.host?.refChanged(this, true);
    }
    return this;
  }

  /** The connection does not keep the process open on its own (its UDP port may, for others). */
  unref(): this {
    if (this.refed) {
      this.refed = false;
      if (!this.released) this.host?.refChanged(this, false);
    }
    return this;
  }

  /** @internal */
  get isRefed(): boolean {
    return this.refed;
  }

  /**
   * net's: close at once and reset the peer (it sees ECONNRESET); here 'close' carries no error.
   */
  resetAndDestroy(): this {
    if (this.destroyed) return this;
    this.resetRequested = true;
    this.destroy();
    return this;
  }

  /** Protocol statistics (RTT, window, retransmissions, …) and the stream's byte counts. */
  stats(): SocketStats {
    const conn = this.connection;
    if (conn === undefined) {
      return {
        ...ZERO_STATS,
        bytesRead: this.bytesRead,
        bytesWritten: this.bytesWritten,
        state: 'idle',
        outcome: undefined,
      };
    }
    const { state, ...stats } = conn.stats();
    return {
      ...stats,
      bytesRead: this.bytesRead,
      bytesWritten: this.bytesWritten,
      state: stateName(state),
      outcome: conn.outcome,
    };
  }

  // ---------------------------------------------------------------- Duplex implementation

  override _read(): void {
    this.connection?.read();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: Callback): void {
    this.bytesWritten += chunk.length;
    this.touch();
    if (this.connection === undefined) {
      this.pendingChunks = [chunk];
      this.heldCallback = cb;
      return;
    }
    this.writeChunks([chunk], cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: Callback): void {
    const list: Buffer[] = new Array(chunks.length);
    for (let i = 0; i < chunks.length; i++) {
      const c = (chunks[i] as { chunk: Buffer }).chunk;
      this.bytesWritten += c.length;
      list[i] = c;
    }
    this.touch();
    if (this.connection === undefined) {
      this.pendingChunks = list;
      this.heldCallback = cb;
      return;
    }
    this.writeChunks(list, cb);
  }

  override _final(cb: Callback): void {
    const conn = this.connection;
    this.finalCallback = cb;
    if (conn === undefined) {
      this.finalPending = true;
      return;
    }
    if (conn.closed) {
      this.releaseFinal();
      return;
    }
    conn.end();
    this.host?.kick();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.clearIdleTimer();
    const conn = this.connection;
    if (conn !== undefined && !conn.closed) {
      // A plain destroy() ends politely (one FIN); one with an error resets the peer, and so does
      // one that leaves received bytes unread (as TCP's close() does): the sender must not take
      // bytes the application never read for delivered. resetAndDestroy() resets it too.
      const code = err
        ? errorCode(err)
        : this.resetRequested
          ? 'ECONNRESET'
          : this.readableLength > 0
            ? 'ECONNABORTED'
            : undefined;
      conn.destroy(code);
      this.host?.kick();
    }
    const held = this.heldCallback;
    this.heldCallback = null;
    this.pendingChunks = null;
    this.finalCallback = null;
    if (conn === undefined || conn.closed) this.releaseHost();
    cb(err);
    held?.(err ?? null);
    // net's 'close' (the stream's own is off: emitClose false), after 'error', with hadError.
    const hadError = err !== null && err !== undefined;
    process.nextTick(() => this.emit('close', hadError));
  }

  // ---------------------------------------------------------------- connection events (ConnectionEvents)

  /** @internal */
  onConnect(): void {
    this.guard(this.connectionOpened);
  }

  /** @internal */
  onBatchEnd(): void {
    this.guard(this.pushStaged);
  }

  /** @internal */
  onEnd(): void {
    this.guard(this.readEnded);
  }

  /** @internal */
  onDrain(): void {
    this.guard(this.releaseHeld);
  }

  /** @internal */
  onFinAcked(): void {
    this.guard(this.releaseFinal);
  }

  /** @internal */
  onClose(outcome: Outcome, code: string | undefined): void {
    this.guard(() => this.connectionClosed(outcome, code));
  }

  /** @internal */
  unreadBytes(): number {
    return this.readableLength + this.stagedLength;
  }

  private writeChunks(chunks: Buffer[], cb: Callback): void {
    const conn = this.connection as Connection;
    if (conn.closed) {
      cb(new LocalError('ERR_STREAM_DESTROYED', 'Cannot call write after the connection closed'));
      return;
    }
    let room = true;
    for (let i = 0; i < chunks.length; i++) room = conn.write(chunks[i] as Buffer);
    this.host?.kick();
    if (room) cb();
    else this.heldCallback = cb;
  }

  private releaseHeld(): void {
    const cb = this.heldCallback;
    if (cb === null || this.pendingChunks !== null) return;
    this.heldCallback = null;
    cb();
  }

  private releaseFinal(): void {
    const cb = this.finalCallback;
    this.finalCallback = null;
    cb?.();
  }

  private connectionOpened(): void {
    this.isConnecting = false;
    this.touch();
    this.emit('connect');
    this.emit('ready');
  }

  private get stagedLength(): number {
    return this.slabUsed - this.stagedFrom;
  }

  /**
   * Copies the payload into the slab (a memcpy of one datagram costs far less than a `push` per
   * datagram, and the datagram's buffer dies young); pushed at the end of the batch.
   *
   * @internal ConnectionEvents.onData (called unguarded: it only copies).
   */
  onData(payload: Uint8Array): void {
    if (this.destroyed || this.broken) return;
    const n = payload.length;
    this.bytesRead += n;
    this.touch();
    let slab = this.slab;
    if (slab === null || this.slabUsed + n > slab.length) {
      this.pushStaged();
      if (n > SLAB_BYTES / 4) {
        // Large datagrams (loopback): a view of the datagram itself (never written again).
        this.guard(() => this.push(Buffer.from(payload.buffer, payload.byteOffset, n)));
        return;
      }
      slab = Buffer.allocUnsafe(SLAB_BYTES);
      this.slab = slab;
      this.slabUsed = 0;
      this.stagedFrom = 0;
    }
    slab.set(payload, this.slabUsed);
    this.slabUsed += n;
  }

  /** Hands the staged bytes to the stream (the slab goes on filling after them). */
  private pushStaged(): void {
    const from = this.stagedFrom;
    const to = this.slabUsed;
    if (to === from || this.slab === null) return;
    this.stagedFrom = to;
    if (this.destroyed || this.broken) return;
    this.guard(() => this.push((this.slab as Buffer).subarray(from, to)));
  }

  private readEnded(): void {
    this.pushStaged();
    this.push(null);
  }

  private connectionClosed(outcome: Outcome, code: string | undefined): void {
    this.pushStaged();
    this.releaseHost();
    this.clearIdleTimer();
    if (isConnectionErrorCode(code) && (outcome === 'reset' || outcome === 'timedOut' || outcome === 'refused')) {
      this.destroy(
        new ConnectionError(code, this.remoteAddress as string, this.remotePort as number, this.isConnecting),
      );
      return;
    }
    // Closed cleanly: anything still buffered stays readable; the stream ends itself (autoDestroy).
    this.releaseFinal();
    if (outcome === 'destroyed' && !this.destroyed) this.destroy();
  }

  private releaseHost(): void {
    if (this.released || this.host === null) return;
    this.released = true;
    this.host.release(this);
  }

  private watchSignal(signal: AbortSignal): void {
    const abort = (): void => {
      if (!this.destroyed) this.destroy(new AbortError(undefined, { cause: signal.reason }));
    };
    if (signal.aborted) {
      process.nextTick(abort);
      return;
    }
    signal.addEventListener('abort', abort, { once: true });
    this.once('close', () => signal.removeEventListener('abort', abort));
  }

  /** @internal Used by connect() for `options.signal`. */
  abortOn(signal: AbortSignal): void {
    this.watchSignal(signal);
  }

  private touch(): void {
    this.idleTimer?.refresh();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
  }

  /**
   * Stream events run inside datagram processing. A listener that throws must not unwind through
   * the protocol core halfway through a packet: the socket is destroyed with the error instead,
   * on the next tick, where it surfaces as that socket's 'error'.
   */
  private guard(fn: (this: Socket) => void): void {
    try {
      fn.call(this);
    } catch (err) {
      if (this.broken) return;
      this.broken = true;
      process.nextTick(() => this.destroy(err instanceof Error ? err : new Error(String(err))));
    }
  }
}

/** The options form of `connect()` (net's): `port` and `host` with the socket's options. */
export interface ConnectOptionsLike {
  port: number | string;
  host?: string;
}

function stateName(value: unknown): SocketState {
  if (typeof value === 'string') return value as SocketState;
  if (typeof value === 'object' && value !== null) return Object.keys(value)[0] as SocketState;
  return 'idle';
}

function errorCode(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'ECONNABORTED';
}
