import dgram from 'node:dgram';
import dns from 'node:dns';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';

export interface UdpOptions {
  /** Inferred from the bind address when absent: an address containing ':' means udp6. */
  type?: 'udp4' | 'udp6';
  /** Kernel receive buffer to request after bind, in bytes (default 4 MiB). */
  recvBufferSize?: number;
  /** Kernel send buffer to request after bind, in bytes (default 4 MiB). */
  sendBufferSize?: number;
  reuseAddr?: boolean;
  ipv6Only?: boolean;
  /** IP time-to-live of outgoing datagrams (dgram's setTTL), applied at bind. */
  ttl?: number;
}

export interface UdpStats {
  /** Datagrams handed to the kernel (or to libuv's queue when the kernel buffer was full). */
  sent: number;
  /** Of those, sends libuv queued (kernel buffer full): held by reference until they leave. */
  queued: number;
  /** Sends that failed, synchronously (bad port, not bound) or asynchronously (EMSGSIZE, EHOSTUNREACH, …). */
  sendErrors: number;
  received: number;
  /** send() calls after close() began; dropped silently apart from this count. */
  droppedAfterClose: number;
  /** Exceptions thrown by the onMessage handler, caught so they never escape a dgram callback. */
  handlerErrors: number;
  /** 'error' events from the socket after bind (receive errors). */
  socketErrors: number;
}

export type MessageHandler = (buf: Buffer, address: string, port: number) => void;

/**
 * Node's default (≈208 KiB on Linux) overflows within a few ms at loopback speed; 4 MiB is what
 * net.core.rmem_max/wmem_max allow on the machines we measure on. Linux silently caps larger requests.
 */
const DEFAULT_BUFFER_SIZE = 4 * 1024 * 1024;
/** Below this, halving stops: the default the kernel gave is better than anything smaller. */
const MIN_BUFFER_SIZE = 64 * 1024;

const noop = (): void => {};

/** Ethernet 1500 minus IPv4 and UDP headers: larger datagrams may fail with EMSGSIZE. */
const PLAIN_DATAGRAM_MAX = 1472;
/** Of datagrams up to PLAIN_DATAGRAM_MAX, every this many sends has its asynchronous outcome checked. */
const CHECKED_EVERY = 64;

/**
 * A thin wrapper over one node:dgram socket: the only place the library touches UDP.
 *
 * Events: 'listening', 'close', 'error' (socket errors after bind — emitted only when someone
 * listens, so an unhandled 'error' can never throw out of a dgram callback), and 'warning'
 * (Error) for everything non-fatal: failed sends, a throwing message handler, and socket errors
 * nobody listens for. Each has a counter in `stats`.
 *
 * send() never throws. A send before bind or after close() is counted (sendErrors /
 * droppedAfterClose) and dropped: a datagram protocol already tolerates loss, and a throw from the
 * hot path would force every caller to wrap it. Pass IP literals: a host name would cost a DNS
 * lookup per datagram.
 */
export class UdpTransport extends EventEmitter {
  readonly stats: UdpStats = {
    sent: 0,
    queued: 0,
    sendErrors: 0,
    received: 0,
    droppedAfterClose: 0,
    handlerErrors: 0,
    socketErrors: 0,
  };

  private socket: dgram.Socket | null = null;
  /** connect()ed to one peer: sends take no address, and ICMP errors from it arrive as 'error'. */
  private connected = false;
  private handler: MessageHandler = noop;
  private refed = true;
  private bound = false;
  private closing = false;
  private closePromise: Promise<void> | null = null;
  /** Rejects the bind() in flight, so close() during bind does not leave it pending forever. */
  private abortBind: ((err: Error) => void) | null = null;
  private readonly opts: UdpOptions;
  /** One callback for every send: Node calls it on a later tick, so a closure per datagram would be waste. */
  private readonly afterSend = (err: Error | null): void => {
    if (err) this.sendFailed(err);
  };
  private readonly onSocketMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    this.stats.received++;
    try {
      this.handler(msg, rinfo.address, rinfo.port);
    } catch (err) {
      this.stats.handlerErrors++;
      this.warn(err);
    }
  };
  private readonly onSocketError = (err: Error): void => {
    this.stats.socketErrors++;
    if (this.listenerCount('error') > 0) this.safeEmit('error', err);
    else this.warn(err);
  };

  constructor(opts: UdpOptions = {}) {
    super();
    this.opts = { ...opts };
  }

  /** Resolves once listening; rejects with the bind Error (code EADDRINUSE, EADDRNOTAVAIL, …). */
  bind(port = 0, address?: string, ipv6Only?: boolean): Promise<void> {
    if (this.closing) return Promise.reject(codedError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'UdpTransport is closed'));
    if (this.socket !== null) return Promise.reject(codedError('ERR_SOCKET_ALREADY_BOUND', 'UdpTransport is bound'));
    // dgram wraps an out-of-range port silently (-1 binds 65535, 70000 binds 4464).
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
      return Promise.reject(codedError('ERR_SOCKET_BAD_PORT', `bad port ${port}`));
    }
    const type = this.opts.type ?? (address?.includes(':') ? 'udp6' : 'udp4');
    const socket = dgram.createSocket({
      type,
      reuseAddr: this.opts.reuseAddr ?? false,
      ipv6Only: ipv6Only ?? this.opts.ipv6Only ?? false,
      lookup: literalLookup,
    });
    this.socket = socket;
    if (!this.refed) socket.unref();
    return new Promise<void>((resolve, reject) => {
      const onBindError = (err: Error): void => {
        this.abortBind = null;
        socket.off('error', onBindError);
        socket.off('listening', onListening);
        // A socket whose bind failed is useless; drop it so bind() may be retried.
        if (this.socket === socket) this.socket = null;
        try {
          socket.close();
        } catch {
          // already closed
        }
        reject(err);
      };
      const onListening = (): void => {
        this.abortBind = null;
        socket.off('error', onBindError);
        socket.on('error', this.onSocketError);
        socket.on('message', this.onSocketMessage);
        this.bound = true;
        this.raiseBufferSizes(socket);
        resolve();
        this.safeEmit('listening');
      };
      socket.once('error', onBindError);
      socket.once('listening', onListening);
      this.abortBind = (err) => {
        this.abortBind = null;
        socket.off('error', onBindError);
        socket.off('listening', onListening);
        socket.on('error', noop); // a late bind failure must not become an unhandled 'error'
        reject(err);
      };
      try {
        socket.bind(port, address ?? (type === 'udp6' ? '::' : '0.0.0.0'));
      } catch (err) {
        // Synchronous argument errors (a bad address type) surface here rather than as 'error'.
        this.abortBind = null;
        socket.off('error', onBindError);
        socket.off('listening', onListening);
        this.socket = null;
        socket.on('error', noop);
        try {
          socket.close();
        } catch {
          // never bound: nothing to release
        }
        reject(err);
      }
    });
  }

  /**
   * Returns true when dgram kept `buf` by reference: the kernel buffer was full, so libuv queued the
   * datagram (Node never copies it). The caller must not write into `buf` until it has left; the
   * protocol core then moves the packet to a fresh buffer.
   */
  send(buf: Uint8Array, offset: number, length: number, port: number, address: string): boolean {
    if (this.closing) {
      this.stats.droppedAfterClose++;
      return false;
    }
    const socket = this.socket;
    if (socket === null || !this.bound) {
      this.sendFailed(codedError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'send() before bind() completed'));
      return false;
    }
    try {
      // dgram defers a callback with process.nextTick on every send that succeeds at once. Only
      // datagrams that may be too large for the path (EMSGSIZE), and one in CHECKED_EVERY, take
      // one: an error that persists (no route, a firewall) is still reported, at a fraction of the cost.
      const check = length > PLAIN_DATAGRAM_MAX || (this.stats.sent & (CHECKED_EVERY - 1)) === 0;
      const cb = check ? this.afterSend : undefined;
      if (this.connected) socket.send(buf, offset, length, cb);
      else socket.send(buf, offset, length, port, address, cb);
      this.stats.sent++;
    } catch (err) {
      this.sendFailed(err);
      return false;
    }
    // libuv tries the send at once and queues it only when that fails (or others wait before it).
    if (socket.getSendQueueCount() === 0) return false;
    this.stats.queued++;
    return true;
  }

  /**
   * Associate the bound socket with one peer (dgram's connect): datagrams from others are no longer
   * received, and the kernel's ICMP errors about that peer (port unreachable: ECONNREFUSED) arrive
   * as 'error' events. Sends to the peer go on unchanged.
   */
  connect(port: number, address: string): Promise<void> {
    const socket = this.socket;
    if (socket === null || !this.bound || this.closing) {
      return Promise.reject(codedError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'UdpTransport is not bound'));
    }
    return new Promise<void>((resolve, reject) => {
      try {
        socket.connect(port, address, () => {
          this.connected = true;
          resolve();
        });
        // An IP literal connects at once (literalLookup answers synchronously); from then on dgram
        // refuses sends that name an address.
        try {
          socket.remoteAddress();
          this.connected = true;
        } catch {
          // still connecting (a host name being looked up)
        }
      } catch (err) {
        reject(err);
      }
    });
  }

  /** dgram's setTTL (1–255); applied at bind when not bound yet. */
  setTTL(ttl: number): void {
    this.opts.ttl = ttl;
    if (this.socket !== null && this.bound) this.socket.setTTL(ttl);
  }

  /** Sets the kernel receive buffer now (when bound) and for a later bind. */
  setRecvBufferSize(size: number): void {
    this.opts.recvBufferSize = size;
    if (this.socket !== null && this.bound) this.socket.setRecvBufferSize(size);
  }

  setSendBufferSize(size: number): void {
    this.opts.sendBufferSize = size;
    if (this.socket !== null && this.bound) this.socket.setSendBufferSize(size);
  }

  /** Sets the single receiver of datagrams; it replaces any previous one. */
  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  /** Throws (like dgram) when not bound. */
  address(): { address: string; family: string; port: number } {
    if (this.socket === null || !this.bound) {
      throw codedError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'UdpTransport is not bound');
    }
    const a = this.socket.address();
    return { address: a.address, family: a.family, port: a.port };
  }

  /** The kernel's receive buffer size; Linux reports twice the value requested (bookkeeping overhead). */
  getRecvBufferSize(): number {
    return this.socket !== null && this.bound ? this.socket.getRecvBufferSize() : 0;
  }

  getSendBufferSize(): number {
    return this.socket !== null && this.bound ? this.socket.getSendBufferSize() : 0;
  }

  /**
   * Bytes queued in libuv because the kernel send buffer was full. Node never drops or fails such
   * sends, it queues them without limit, so this is the only backpressure signal a sender gets.
   */
  sendQueueSize(): number {
    return this.socket !== null && this.bound ? this.socket.getSendQueueSize() : 0;
  }

  /** Idempotent; resolves when the socket is closed (at once if it was never bound). */
  close(): Promise<void> {
    if (this.closePromise !== null) return this.closePromise;
    this.closing = true;
    this.abortBind?.(codedError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'UdpTransport closed during bind'));
    const socket = this.socket;
    this.socket = null;
    this.bound = false;
    this.connected = false;
    if (socket === null) {
      this.closePromise = Promise.resolve().then(() => {
        this.safeEmit('close');
      });
      return this.closePromise;
    }
    this.closePromise = new Promise<void>((resolve) => {
      socket.once('close', () => {
        socket.off('message', this.onSocketMessage);
        resolve();
        this.safeEmit('close');
      });
      try {
        socket.close();
      } catch {
        // A bind still in flight or an already closed handle: nothing more to release.
        resolve();
        this.safeEmit('close');
      }
    });
    return this.closePromise;
  }

  ref(): this {
    this.refed = true;
    this.socket?.ref();
    return this;
  }

  unref(): this {
    this.refed = false;
    this.socket?.unref();
    return this;
  }

  private raiseBufferSizes(socket: dgram.Socket): void {
    setBufferSize(socket, 'recv', this.opts.recvBufferSize ?? DEFAULT_BUFFER_SIZE);
    setBufferSize(socket, 'send', this.opts.sendBufferSize ?? DEFAULT_BUFFER_SIZE);
    if (this.opts.ttl !== undefined) {
      try {
        socket.setTTL(this.opts.ttl);
      } catch (err) {
        this.warn(err);
      }
    }
  }

  private sendFailed(err: unknown): void {
    this.stats.sendErrors++;
    this.warn(err);
  }

  private warn(err: unknown): void {
    this.safeEmit('warning', err instanceof Error ? err : new Error(String(err)));
  }

  /** A listener that throws must not escape into a dgram callback either. */
  private safeEmit(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      if (event !== 'warning') this.warn(err);
    }
  }
}

/**
 * Requests `size` bytes, halving on refusal. Linux caps a too-large request at rmem_max/wmem_max
 * without an error, but other systems (macOS: kern.ipc.maxsockbuf) refuse it with ENOBUFS/EINVAL.
 */
function setBufferSize(socket: dgram.Socket, which: 'recv' | 'send', size: number): void {
  if (!(size > 0)) return;
  const first = Math.min(Math.floor(size), 0x7fffffff);
  const floor = Math.min(first, MIN_BUFFER_SIZE);
  for (let n = first; n >= floor; n = Math.floor(n / 2)) {
    try {
      if (which === 'recv') socket.setRecvBufferSize(n);
      else socket.setSendBufferSize(n);
      return;
    } catch {
      // too large for this system: try half
    }
  }
}

function codedError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/**
 * dgram resolves the address of every send through `lookup`; dns.lookup answers an IP literal on
 * the next tick, which defers each datagram and allocates a closure for it. Literals are answered
 * synchronously here; names still go to dns.lookup.
 */
let lastHost = '';
let lastFamily = 0;

function literalLookup(
  hostname: string,
  options: dns.LookupOneOptions | number,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  // Every datagram to one peer names the same literal: remember the last answer (isIP is a regex).
  if (hostname === lastHost) {
    callback(null, hostname, lastFamily);
    return;
  }
  const family = isIP(hostname);
  if (family !== 0) {
    lastHost = hostname;
    lastFamily = family;
  }
  if (family !== 0) {
    callback(null, hostname, family);
    return;
  }
  dns.lookup(hostname, options as dns.LookupOneOptions, callback);
}
