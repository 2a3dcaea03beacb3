/**
 * One UDP port that carries uTP both ways — it accepts connections once listening and opens
 * connections out — and passes every datagram that is not uTP on as 'message', like a dgram
 * socket (utp-native's `utp()` socket, for hole punching and DHT traffic on the same port).
 *
 * The IO loop: datagrams go straight into the Endpoint; the output they cause is flushed once per
 * event-loop turn (one setImmediate), so a burst of input yields one ack, and then the single
 * Node timer is re-armed to the earliest deadline of the endpoint's timer queue.
 */
import dns from 'node:dns';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { MTU_BASE_IPV4, MTU_BASE_IPV6 } from '../core/mtu.js';
import { TimerQueue } from '../core/timer-queue.js';
import { Endpoint } from '../endpoint/endpoint.js';
import type { Connection, ConnectionConfig, ConnectionTrace, InspectObserver } from '../machines/connection.js';
import { monotonicUs, realClock } from './clock.js';
import { LocalError } from './errors.js';
import { type AddressInfo, Socket, type SocketHost, type SocketOptions } from './socket.js';
import { TimerDriver } from './timer-driver.js';
import { UdpTransport } from './udp.js';

/**
 * uTP datagram ceiling towards loopback peers (Linux's lo MTU is 64 KiB, so the ceiling is ours to
 * pick). Measured with `npm start` (64/256 MiB, utpx to utpx): 8192 ≈ 150, 16384 ≈ 220–280,
 * 32768 ≈ 230–285, 60000 ≈ 240–330 MB/s. 60000 is fastest between two utpx sockets (4 MiB kernel
 * buffers), but a libutp peer keeps the kernel's default 208 KiB receive buffer, which holds only
 * three such datagrams: a 16 MiB upload to utp-native took 1.1 s at 60000 or 32768 (burst losses
 * and a 1 s retransmission timeout) against 0.12 s at 16384. 16384 is the best for both.
 */
export const LOOPBACK_MTU_CEILING = 16384;
/** Ethernet 1500 minus IPv4 (20) and UDP (8) headers. */
export const IPV4_MTU_CEILING = 1500 - 28;
/** Ethernet 1500 minus IPv6 (40) and UDP (8) headers. */
export const IPV6_MTU_CEILING = 1500 - 48;

/**
 * Half-open incoming connections a listening socket holds, like net's listen backlog (511). A burst
 * of SYNs (a swarm connecting at once) arrives before any initiator has sent its first packet.
 */
export const DEFAULT_BACKLOG = 511;

export interface UtpSocketOptions extends SocketOptions {
  /** Protocol settings for every connection (window sizes, MTU bounds, timeouts, …). */
  connection?: ConnectionConfig;
  /** Datagram ceiling for loopback peers (default LOOPBACK_MTU_CEILING). */
  loopbackMtu?: number;
  /** Kernel buffer sizes for the UDP socket (default 4 MiB each). */
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** Incoming connections not yet heard from since their SYN (default DEFAULT_BACKLOG); more SYNs get a RST. */
  maxHalfOpen?: number;
  /** Every packet and state change of every connection. */
  trace?: ConnectionTrace;
  /** XState inspection observer for every connection's lifecycle actor, e.g. the Stately inspector's. */
  inspect?: InspectObserver;
  /**
   * Keep the port open this long (unref'd) after close() and the last connection, answering late
   * packets, like TCP's TIME_WAIT. Default 0 for sockets you create (their 'close' comes at once);
   * `connect()`'s own port uses ONE_OFF_LINGER_MS.
   */
  lingerMs?: number;
}

/** How long a one-off `connect()` port answers late packets (the endpoint remembers closed connections 10 s). */
export const ONE_OFF_LINGER_MS = 10_000;

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

type SendCallback = (err: Error | null) => void;
type BindState = 'unbound' | 'binding' | 'bound' | 'closed';

export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

export class UtpSocket extends EventEmitter implements SocketHost {
  /** Open connections on this port, incoming and outgoing. */
  readonly connections: Socket[] = [];
  /** Refuse incoming connections while this many are open (0: no limit), as utp-native. */
  maxConnections = 0;
  readonly endpoint: Endpoint;
  readonly udp: UdpTransport;
  private readonly timers = new TimerQueue();
  private readonly driver: TimerDriver;
  private readonly socketOptions: SocketOptions;
  private readonly lingerMs: number;
  private state: BindState = 'unbound';
  private accepting = false;
  private closeRequested = false;
  private flushScheduled = false;
  /** Work waiting for bind to finish: connects and sends. */
  private afterBind: Array<(err: Error | null) => void> = [];
  private family: 'IPv4' | 'IPv6' = 'IPv4';
  /** bind() or listen() was called: bind errors are the caller's to handle ('error'). */
  private explicitBind = false;
  private readonly onTick = (): void => {
    this.flushScheduled = false;
    this.endpoint.flush();
    this.driver.arm();
  };

  constructor(opts: UtpSocketOptions = {}) {
    super();
    this.socketOptions = { allowHalfOpen: opts.allowHalfOpen ?? true };
    this.lingerMs = opts.lingerMs ?? 0;
    const udpOpts: { recvBufferSize?: number; sendBufferSize?: number } = {};
    if (opts.recvBufferSize !== undefined) udpOpts.recvBufferSize = opts.recvBufferSize;
    if (opts.sendBufferSize !== undefined) udpOpts.sendBufferSize = opts.sendBufferSize;
    this.udp = new UdpTransport(udpOpts);
    const loopbackMtu = opts.loopbackMtu ?? LOOPBACK_MTU_CEILING;
    const user = opts.connection;
    this.endpoint = new Endpoint({
      transport: this.udp,
      timers: this.timers,
      now: monotonicUs,
      ...(user ? { connection: user } : {}),
      connectionFor: (address) => {
        if (user?.mtuCeiling !== undefined) return undefined;
        const ipv6 = address.includes(':') && !address.startsWith('::ffff:');
        // DPLPMTUD's base: the size every path of that family carries (RFC 8899).
        const packetSize = ipv6 ? MTU_BASE_IPV6 : MTU_BASE_IPV4;
        if (isLoopback(address)) return { mtuCeiling: loopbackMtu, packetSize };
        return { mtuCeiling: ipv6 ? IPV6_MTU_CEILING : IPV4_MTU_CEILING, packetSize };
      },
      maxHalfOpen: opts.maxHalfOpen ?? DEFAULT_BACKLOG,
      ...(opts.trace ? { trace: opts.trace } : {}),
      ...(opts.inspect ? { inspect: opts.inspect } : {}),
      onNeedFlush: () => this.kick(),
    });
    this.endpoint.onMessage = (buf, address, port) => this.onMessage(buf, address, port);
    this.driver = new TimerDriver(this.timers, realClock);
    this.driver.onFire = () => this.kick();
    this.udp.onMessage((buf, address, port) => {
      this.endpoint.handleDatagram(buf, address, port);
      this.kick();
    });
    // Send failures and a throwing handler are counted in udp.stats; they are no reason to crash.
    this.udp.on('warning', (err: Error) => this.emit('warning', err));
    this.udp.on('error', (err: Error) => this.emit(this.listenerCount('error') > 0 ? 'error' : 'warning', err));
  }

  /** close() was called: no more connections are accepted, and the port closes after the last one. */
  get closing(): boolean {
    return this.closeRequested;
  }

  /** Accepting incoming connections. */
  get listening(): boolean {
    return this.accepting && this.state === 'bound';
  }

  bind(port?: number | (() => void), host?: string | (() => void), onListening?: () => void): this {
    if (typeof port === 'function') return this.bind(0, undefined, port);
    if (typeof host === 'function') return this.bind(port, undefined, host);
    if (onListening) this.once('listening', onListening);
    this.explicitBind = true;
    if (this.closeRequested || this.state === 'closed') {
      process.nextTick(() => this.emit('error', new LocalError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Socket is closed')));
      return this;
    }
    if (this.state !== 'unbound') {
      process.nextTick(() => this.emit('error', new LocalError('ERR_SOCKET_ALREADY_BOUND', 'Socket already bound')));
      return this;
    }
    this.startBind(port ?? 0, host ?? '0.0.0.0');
    return this;
  }

  /** Bind (if not bound yet) and accept incoming connections. */
  listen(port?: number | (() => void), host?: string | (() => void), onListening?: () => void): this {
    if (typeof port === 'function') return this.listen(0, undefined, port);
    if (typeof host === 'function') return this.listen(port, undefined, host);
    this.setAccepting(true);
    if (this.state === 'unbound') return this.bind(port, host, onListening);
    if (onListening) {
      if (this.state === 'bound') process.nextTick(onListening);
      else this.once('listening', onListening);
    }
    return this;
  }

  /** Open a connection to `port` on `host` (default 127.0.0.1) from this port; binds first if needed. */
  connect(port: number, host = '127.0.0.1', opts: SocketOptions = {}): Socket {
    const socket = new Socket(this, host, port, true, { ...this.socketOptions, ...opts });
    this.connections.push(socket);
    if (this.closeRequested || this.state === 'closed') {
      process.nextTick(() => socket.fail(new LocalError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Socket is closed')));
      return socket;
    }
    const start = (address: string): void => {
      if (socket.destroyed) return;
      const target = this.mapAddress(address);
      if (target === null) {
        socket.fail(new LocalError('EAFNOSUPPORT', `cannot reach ${address} from an ${this.family} socket`));
        return;
      }
      socket.attach(this.endpoint.connect(port, target));
    };
    const resolved = (address: string): void => {
      if (this.state === 'bound') start(address);
      else {
        if (this.state === 'unbound') this.startBind(0, isIP(address) === 6 ? '::' : '0.0.0.0');
        this.afterBind.push((err) => (err ? socket.fail(err) : start(address)));
      }
    };
    if (isIP(host) !== 0) resolved(host);
    else {
      const family = this.state === 'unbound' ? 0 : this.family === 'IPv6' ? 6 : 4;
      // IPv4 first for a name like 'localhost', as utp-native (IPv4 only) would reach it.
      dns.lookup(host, { family, verbatim: false }, (err, ip) => {
        if (err) socket.fail(err);
        else resolved(ip);
      });
    }
    return socket;
  }

  /** A plain UDP datagram, as dgram's send; binds to a random port first if needed. */
  send(buf: Uint8Array, offset: number, length: number, port: number, host: string, cb?: SendCallback): void {
    const done = cb ?? noop;
    if (this.closeRequested || this.state === 'closed') {
      process.nextTick(done, new LocalError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Socket is closed'));
      return;
    }
    const go = (address: string): void => {
      const target = this.mapAddress(address);
      if (target === null) {
        process.nextTick(done, new LocalError('EAFNOSUPPORT', `cannot reach ${address} from an ${this.family} socket`));
        return;
      }
      this.udp.send(buf, offset, length, port, target);
      process.nextTick(done, null);
    };
    const resolved = (address: string): void => {
      if (this.state === 'bound') go(address);
      else {
        if (this.state === 'unbound') this.startBind(0, isIP(address) === 6 ? '::' : '0.0.0.0');
        // The caller may reuse its buffer once send() returns; this one waits for bind.
        const copy = Uint8Array.prototype.slice.call(buf, offset, offset + length);
        buf = copy;
        offset = 0;
        this.afterBind.push((err) => (err ? done(err) : go(address)));
      }
    };
    if (isIP(host) !== 0) resolved(host);
    else {
      dns.lookup(host, { family: this.family === 'IPv6' ? 6 : 4 }, (err, ip) => {
        if (err) done(err);
        else resolved(ip);
      });
    }
  }

  /** Throws when not bound, like dgram. */
  address(): AddressInfo {
    if (this.state !== 'bound') throw new LocalError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Socket not bound');
    return this.udp.address();
  }

  /** utp-native's name: true refuses incoming connections (with a RST), false accepts them again. */
  firewall(refuse: boolean): void {
    if (!this.closeRequested) this.setAccepting(!refuse);
  }

  getRecvBufferSize(): number {
    return this.udp.getRecvBufferSize();
  }

  getSendBufferSize(): number {
    return this.udp.getSendBufferSize();
  }

  ref(): this {
    this.udp.ref();
    this.driver.ref();
    return this;
  }

  unref(): this {
    this.udp.unref();
    this.driver.unref();
    return this;
  }

  /**
   * Stop accepting. Open connections go on; the UDP port closes (and 'close' is emitted) once the
   * last of them has ended.
   */
  close(onClose?: () => void): this {
    if (onClose) {
      if (this.state === 'closed') process.nextTick(onClose);
      else this.once('close', onClose);
    }
    if (this.closeRequested) return this;
    this.closeRequested = true;
    this.setAccepting(false);
    this.emit('closing');
    this.closeMaybe();
    return this;
  }

  /** Accepted connections, ending when close() is called. See Server for the details. */
  [Symbol.asyncIterator](): AsyncIterator<Socket> {
    return acceptIterator(this);
  }

  // ---------------------------------------------------------------- SocketHost

  kick(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.onTick);
  }

  release(socket: Socket): void {
    const i = this.connections.indexOf(socket);
    if (i >= 0) this.connections.splice(i, 1);
    if (this.accepting && this.maxConnections > 0 && this.connections.length < this.maxConnections) {
      this.endpoint.onConnection = (conn) => this.onConnection(conn);
    }
    this.closeMaybe();
  }

  // ---------------------------------------------------------------- internals

  private setAccepting(on: boolean): void {
    this.accepting = on;
    this.endpoint.onConnection = on ? (conn) => this.onConnection(conn) : undefined;
  }

  private onConnection(conn: Connection): void {
    const socket = new Socket(this, conn.remoteAddress, conn.remotePort, false, this.socketOptions);
    this.connections.push(socket);
    socket.attach(conn);
    if (this.maxConnections > 0 && this.connections.length >= this.maxConnections) {
      this.endpoint.onConnection = undefined;
    }
    this.safeEmit('connection', socket);
  }

  private onMessage(buf: Uint8Array, address: string, port: number): void {
    const msg = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.length);
    const rinfo: RemoteInfo = { address, family: address.includes(':') ? 'IPv6' : 'IPv4', port, size: msg.length };
    this.safeEmit('message', msg, rinfo);
  }

  /**
   * Listeners run inside a datagram callback: one that throws is rethrown on a later tick, where it
   * is an uncaught exception as it would be with net or dgram, instead of unwinding the endpoint.
   */
  private safeEmit(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }

  private startBind(port: number, address: string): void {
    this.state = 'binding';
    if (isIP(address) !== 0) {
      this.doBind(port, address);
      return;
    }
    dns.lookup(address, (err, ip) => {
      if (err) this.bindFailed(err);
      else this.doBind(port, ip);
    });
  }

  private doBind(port: number, address: string): void {
    this.udp.bind(port, address).then(
      () => {
        if (this.state !== 'binding') return;
        this.state = 'bound';
        this.family = this.udp.address().family === 'IPv6' ? 'IPv6' : 'IPv4';
        this.runAfterBind(null);
        // Out of the promise chain: a throwing listener is an uncaught exception, not a rejection.
        process.nextTick(() => {
          this.emit('listening');
          this.closeMaybe();
        });
      },
      (err: Error) => process.nextTick(() => this.bindFailed(err)),
    );
  }

  private bindFailed(err: Error): void {
    if (this.state === 'closed') return;
    this.state = 'unbound';
    this.runAfterBind(err);
    if (this.closeRequested) this.closeMaybe();
    else if (this.explicitBind || this.listenerCount('error') > 0) this.emit('error', err);
  }

  private runAfterBind(err: Error | null): void {
    const list = this.afterBind;
    this.afterBind = [];
    for (const fn of list) fn(err);
  }

  /** An IP literal in the form this socket's family can send to, or null when it cannot. */
  private mapAddress(address: string): string | null {
    const v = isIP(address);
    if (this.family === 'IPv4') return v === 4 ? address : null;
    if (v === 6) return address;
    // A dual-stack IPv6 socket reaches IPv4 peers, and sees them, as IPv4-mapped addresses.
    return v === 4 ? `::ffff:${address}` : null;
  }

  private closeMaybe(): void {
    if (!this.closeRequested || this.state === 'closed' || this.state === 'binding') return;
    if (this.connections.length > 0) return;
    this.state = 'closed';
    this.endpoint.close(true);
    this.runAfterBind(new LocalError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Socket is closed'));
    // Whatever the last connections queued (a final ack, a FIN) goes out before the port closes.
    this.endpoint.flush();
    this.driver.close();
    this.timers.clear();
    const close = (): void => {
      this.udp.close().then(() => this.emit('close'));
    };
    if (this.lingerMs > 0 && this.udp.stats.received > 0) {
      // TIME_WAIT: late packets from the peer (a retransmitted FIN whose ack was lost, data after
      // our destroy) still get an answer instead of silence; the port no longer holds the process.
      this.udp.unref();
      setTimeout(close, this.lingerMs).unref();
      return;
    }
    // dgram resolves even an IP literal on the next tick before it sends: closing now would drop
    // those last datagrams, so the port closes one turn later.
    setImmediate(close);
  }
}

function noop(): void {}

/**
 * Sockets accepted after the iterator was created, in order; buffered while the consumer is busy.
 * It ends when the server stops accepting. A consumer that breaks out destroys the sockets it
 * never pulled (nobody else will read them) and stops listening for more; the server stays open.
 */
function acceptIterator(server: UtpSocket): AsyncIterator<Socket> {
  const buffered: Socket[] = [];
  let waiting: ((r: IteratorResult<Socket>) => void) | null = null;
  let done = server.closing;
  const onConnection = (socket: Socket): void => {
    if (waiting !== null) {
      const w = waiting;
      waiting = null;
      w({ value: socket, done: false });
    } else buffered.push(socket);
  };
  const finish = (): void => {
    if (done) return;
    done = true;
    server.off('connection', onConnection);
    server.off('closing', finish);
    server.off('close', finish);
    if (waiting !== null) {
      const w = waiting;
      waiting = null;
      w({ value: undefined, done: true });
    }
  };
  if (!done) {
    server.on('connection', onConnection);
    server.on('closing', finish);
    server.on('close', finish);
  }
  return {
    next(): Promise<IteratorResult<Socket>> {
      const s = buffered.shift();
      if (s !== undefined) return Promise.resolve({ value: s, done: false });
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    return(): Promise<IteratorResult<Socket>> {
      finish();
      for (const s of buffered.splice(0)) s.destroy();
      return Promise.resolve({ value: undefined, done: true });
    },
  };
}
