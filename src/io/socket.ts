/**
 * One uTP connection as a Node Duplex stream, with `net.Socket`'s names where they mean the same
 * thing ('connect', remoteAddress, setTimeout, bytesRead, …) and utp-native's defaults
 * (allowHalfOpen: true).
 *
 * Backpressure is real in both directions. Writing: a chunk's callback is held while the
 * connection's send queue is over its limit and released on drain, so `write()` returns false and
 * 'drain' comes exactly when the protocol has room. Reading: bytes the application has not read yet
 * (`readableLength`) are subtracted from the receive window we advertise, so a paused reader makes
 * the peer stop; `_read()` tells the connection, which reopens the window with an ack.
 */
import { Duplex } from 'node:stream';
import type { Connection } from '../machines/connection.js';
import type { Outcome } from '../machines/connection.machine.js';
import { ConnectionError, isConnectionErrorCode, LocalError } from './errors.js';

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
}

export interface SocketOptions {
  /** When false, the peer's FIN ends our side too once the readable side has ended (default true, as utp-native). */
  allowHalfOpen?: boolean;
}

type Callback = (err?: Error | null) => void;

/** Receive staging slab: in-order bytes of one input batch are pushed to the stream as one chunk. */
const SLAB_BYTES = 64 * 1024;

export class Socket extends Duplex {
  remoteAddress: string;
  remotePort: number;
  remoteFamily: 'IPv4' | 'IPv6';
  bytesRead = 0;
  bytesWritten = 0;
  /** The protocol connection, once there is one (an outgoing socket gets it after bind and name lookup). */
  connection: Connection | undefined;
  private readonly host: SocketHost;
  /** A write that did not fit yet: released on drain, or replayed once the connection exists. */
  private heldCallback: Callback | null = null;
  private pendingChunks: Buffer[] | null = null;
  private finalCallback: Callback | null = null;
  private finalPending = false;
  private released = false;
  private connecting: boolean;
  private idleTimer: NodeJS.Timeout | null = null;
  /** A listener threw inside protocol processing; the socket is being destroyed with its error. */
  private broken = false;
  /**
   * In-order payloads of the current input batch, copied into one slab and pushed as one chunk when
   * the batch ends (or the slab fills): one `push` per event-loop turn instead of one per datagram.
   */
  private slab: Buffer | null = null;
  private slabUsed = 0;
  private stagedFrom = 0;

  constructor(
    host: SocketHost,
    remoteAddress: string,
    remotePort: number,
    outgoing: boolean,
    opts: SocketOptions = {},
  ) {
    super({ allowHalfOpen: opts.allowHalfOpen ?? true });
    this.host = host;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
    this.remoteFamily = remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
    this.connecting = outgoing;
  }

  /** net.Socket's name: true until 'connect'. */
  get pending(): boolean {
    return this.connecting;
  }

  /** Bind the protocol connection to this stream. */
  attach(conn: Connection): void {
    this.connection = conn;
    this.remoteAddress = conn.remoteAddress;
    this.remotePort = conn.remotePort;
    this.remoteFamily = conn.remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
    conn.events = {
      onConnect: () => this.guard(() => this.onConnect()),
      onData: (payload) => this.onData(payload),
      onBatchEnd: () => this.guard(() => this.pushStaged()),
      onEnd: () =>
        this.guard(() => {
          this.pushStaged();
          this.push(null);
        }),
      onDrain: () => this.guard(() => this.releaseHeld()),
      onFinAcked: () => this.guard(() => this.releaseFinal()),
      onClose: (outcome, code) => this.guard(() => this.onClose(outcome, code)),
      unreadBytes: () => this.readableLength + this.stagedLength,
    };
    if (this.destroyed) {
      conn.destroy();
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
    this.host.kick();
  }

  /** The connection could not even start (name lookup, bind, wrong address family). */
  fail(err: Error): void {
    this.destroy(err);
  }

  address(): AddressInfo | null {
    if (this.destroyed && this.released) return null;
    try {
      return this.host.address();
    } catch {
      return null;
    }
  }

  /**
   * Emit 'timeout' after `ms` without traffic in either direction (0 turns it off). Like net, the
   * socket stays open: closing it is the listener's decision.
   */
  setTimeout(ms: number, onTimeout?: () => void): this {
    if (onTimeout) this.once('timeout', onTimeout);
    this.clearIdleTimer();
    if (ms > 0 && !this.destroyed) {
      this.idleTimer = setTimeout(() => this.emit('timeout'), ms);
      // net's socket timeouts do not hold the process open on their own either.
      this.idleTimer.unref();
    }
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

  /** Protocol statistics (RTT, window, retransmissions, …) and the stream's byte counts. */
  stats() {
    const conn = this.connection;
    return {
      bytesRead: this.bytesRead,
      bytesWritten: this.bytesWritten,
      ...(conn ? conn.stats() : {}),
      outcome: conn?.outcome,
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
    this.host.kick();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.clearIdleTimer();
    const conn = this.connection;
    if (conn !== undefined && !conn.closed) {
      // A plain destroy() ends politely (one FIN); one with an error resets the peer, and so does
      // one that leaves received bytes unread (as TCP's close() does): the sender must not take
      // bytes the application never read for delivered.
      const code = err ? errorCode(err) : this.readableLength > 0 ? 'ECONNABORTED' : undefined;
      conn.destroy(code);
      this.host.kick();
    }
    const held = this.heldCallback;
    this.heldCallback = null;
    this.pendingChunks = null;
    this.finalCallback = null;
    if (conn === undefined || conn.closed) this.releaseHost();
    cb(err);
    held?.(err ?? null);
  }

  // ---------------------------------------------------------------- connection events

  private writeChunks(chunks: Buffer[], cb: Callback): void {
    const conn = this.connection as Connection;
    if (conn.closed) {
      cb(new LocalError('ERR_STREAM_DESTROYED', 'Cannot call write after the connection closed'));
      return;
    }
    let room = true;
    for (let i = 0; i < chunks.length; i++) room = conn.write(chunks[i] as Buffer);
    this.host.kick();
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

  private onConnect(): void {
    this.connecting = false;
    this.touch();
    this.emit('connect');
  }

  private get stagedLength(): number {
    return this.slabUsed - this.stagedFrom;
  }

  /**
   * Copies the payload into the slab (a memcpy of one datagram costs far less than a `push` per
   * datagram, and the datagram's buffer dies young); pushed at the end of the batch.
   */
  private onData(payload: Uint8Array): void {
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

  private onClose(outcome: Outcome, code: string | undefined): void {
    this.pushStaged();
    this.releaseHost();
    this.clearIdleTimer();
    if (isConnectionErrorCode(code) && (outcome === 'reset' || outcome === 'timedOut' || outcome === 'refused')) {
      this.destroy(new ConnectionError(code, this.remoteAddress, this.remotePort, this.connecting));
      return;
    }
    // Closed cleanly: anything still buffered stays readable; the stream ends itself (autoDestroy).
    this.releaseFinal();
    if (outcome === 'destroyed' && !this.destroyed) this.destroy();
  }

  private releaseHost(): void {
    if (this.released) return;
    this.released = true;
    this.host.release(this);
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
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (this.broken) return;
      this.broken = true;
      process.nextTick(() => this.destroy(err instanceof Error ? err : new Error(String(err))));
    }
  }
}

function errorCode(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'ECONNABORTED';
}
