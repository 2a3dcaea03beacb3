/**
 * One UDP port that carries uTP both ways — it accepts connections once listening and opens
 * connections out — and passes every datagram that is not uTP on as 'message', like a dgram
 * socket (utp-native's `utp()` socket, for hole punching and DHT traffic on the same port).
 *
 * The IO loop: datagrams go straight into the Endpoint; the output they cause is flushed once per
 * event-loop turn (one setImmediate), so a burst of input yields one ack, and then the single
 * Node timer is re-armed to the earliest deadline of the endpoint's timer queue.
 */
import dns, { type LookupOneOptions } from 'node:dns';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { TimerQueue } from '../core/timer-queue.js';
import { Endpoint, type EndpointOptions } from '../endpoint/endpoint.js';
import type { Connection, ConnectionConfig } from '../machines/connection.js';
import { monotonicUs, realClock } from './clock.js';
import {
  checkHost,
  checkPort,
  checkSignal,
  LOOPBACK_MTU_CEILING,
  loopbackCeilingFor,
  ONE_OFF_LINGER_MS,
  type ResolvedConfig,
  resolveConfig,
  type UtpSocketOptions,
} from './config.js';
import { invalidArgType, invalidArgValue, LocalError, missingArgs, outOfRange } from './errors.js';
import {
  type AddressInfo,
  createSocket,
  registerOneOffConnect,
  type Socket,
  type SocketConstructorOptions,
} from './socket.js';
import { TimerDriver } from './timer-driver.js';
import { UdpTransport } from './udp.js';

export {
  DEFAULT_BACKLOG,
  IPV4_MTU_CEILING,
  IPV6_MTU_CEILING,
  isLoopback,
  LOOPBACK_MTU_CEILING,
  ONE_OFF_LINGER_MS,
  type UtpSocketOptions,
} from './config.js';

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

/** net's `lookup` option: dns.lookup's signature. */
export type LookupFunction = (
  hostname: string,
  options: LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
) => void;

/** `connect()`'s options: net's (port, host, family, lookup, localAddress, localPort, timeout, signal) and the UDP port's. */
export interface ConnectOptions extends SocketConstructorOptions {
  port: number | string;
  /** Default '127.0.0.1' (utp-native's default; net's is 'localhost'). */
  host?: string;
  /** Address family for a host name's lookup: 4, 6 or 0 (either, IPv4 first). */
  family?: 0 | 4 | 6;
  /** Resolves host names instead of dns.lookup. */
  lookup?: LookupFunction;
  /** The local address to bind the connection's UDP port to. */
  localAddress?: string;
  /** The local port to bind the connection's UDP port to (default: any). */
  localPort?: number;
  /** `socket.setTimeout(timeout)` at once: 'timeout' after this many ms without traffic. */
  timeout?: number;
}

/** `listen()`'s options (net's). */
export interface ListenOptions {
  port?: number | string;
  /** Default: '::' with IPv4 too (dual-stack), as net; '0.0.0.0' where IPv6 is unavailable. */
  host?: string;
  /** The most incoming connections not yet heard from since their SYN (maxHalfOpen). */
  backlog?: number;
  /** With host '::' (or none): IPv6 only, no IPv4 peers. */
  ipv6Only?: boolean;
  /** Closes the server when aborted. */
  signal?: AbortSignal;
  /** net's; a UDP port is never shared between processes here, so it changes nothing. */
  exclusive?: boolean;
}

/** What each event passes its listeners. */
export interface UtpSocketEvents {
  listening: () => void;
  /** An incoming connection (before its handshake completed: data written to it waits until it has). */
  connection: (socket: Socket) => void;
  /** A datagram that is not uTP. */
  message: (msg: Buffer, rinfo: RemoteInfo) => void;
  error: (err: Error) => void;
  /** Something non-fatal: a failed send, a socket error nobody listens to as 'error'. */
  warning: (err: Error) => void;
  /** close() was called: no more connections are accepted. */
  closing: () => void;
  /** The UDP port is closed. */
  close: () => void;
}

type SendCallback = (err: Error | null) => void;
type BindState = 'unbound' | 'binding' | 'bound' | 'closed';

/** A normalized connect() call. */
interface ConnectTarget {
  port: number;
  host: string;
  options: Partial<ConnectOptions>;
  callback: (() => void) | undefined;
}

/** Checked UDP options for a UtpSocket the library creates (connect()'s own port), so they are not checked twice. */
let presetConfig: { config: ResolvedConfig; oneOff: boolean } | undefined;

/** A listener of any event, as EventEmitter takes it. */
// biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own listener type
type AnyListener = (...args: any[]) => void;

export interface UtpSocket {
  on<E extends keyof UtpSocketEvents>(event: E, listener: UtpSocketEvents[E]): this;
  on(event: string | symbol, listener: AnyListener): this;
  once<E extends keyof UtpSocketEvents>(event: E, listener: UtpSocketEvents[E]): this;
  once(event: string | symbol, listener: AnyListener): this;
  off<E extends keyof UtpSocketEvents>(event: E, listener: UtpSocketEvents[E]): this;
  off(event: string | symbol, listener: AnyListener): this;
  addListener<E extends keyof UtpSocketEvents>(event: E, listener: UtpSocketEvents[E]): this;
  addListener(event: string | symbol, listener: AnyListener): this;
  removeListener<E extends keyof UtpSocketEvents>(event: E, listener: UtpSocketEvents[E]): this;
  removeListener(event: string | symbol, listener: AnyListener): this;
  prependListener<E extends keyof UtpSocketEvents>(event: E, listener: UtpSocketEvents[E]): this;
  prependListener(event: string | symbol, listener: AnyListener): this;
  prependOnceListener<E extends keyof UtpSocketEvents>(event: E, listener: UtpSocketEvents[E]): this;
  prependOnceListener(event: string | symbol, listener: AnyListener): this;
  emit<E extends keyof UtpSocketEvents>(event: E, ...args: Parameters<UtpSocketEvents[E]>): boolean;
  emit(event: string | symbol, ...args: unknown[]): boolean;
}

// Not `implements SocketHost`: its methods are internal (left out of the published types); the
// calls that pass `this` as a SocketHost check the fit.
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: typed event overloads, as @types/node declares dgram.Socket's
export class UtpSocket extends EventEmitter {
  /** Open connections on this port, incoming and outgoing. */
  readonly connections: Socket[] = [];
  /** Refuse incoming connections while this many are open (0: no limit), as utp-native. */
  maxConnections = 0;
  readonly endpoint: Endpoint;
  readonly udp: UdpTransport;
  private readonly timers = new TimerQueue();
  private readonly driver: TimerDriver;
  private readonly config: ResolvedConfig;
  private readonly endpointOptions: EndpointOptions;
  /** connect()'s own port: one peer, so the UDP socket is connected and hears ICMP refusals. */
  private readonly oneOff: boolean;
  /** @internal */
  protected state: BindState = 'unbound';
  private accepting = false;
  private closeRequested = false;
  private flushScheduled = false;
  /** Work waiting for bind to finish: connects and sends. */
  private afterBind: Array<(err: Error | null) => void> = [];
  private family: 'IPv4' | 'IPv6' = 'IPv4';
  /** Bound to '::' with IPv4 too: IPv4 peers are reached, and seen, as ::ffff:a.b.c.d. */
  private dualStack = false;
  /** bind() or listen() was called: bind errors are the caller's to handle ('error'). */
  private explicitBind = false;
  /** ref()/unref() of the port itself; its connections hold the process open on their own. */
  private ownRef = true;
  private unrefedSockets = 0;
  /** The default loopback datagram ceiling for this socket's receive buffer; 0 until read while bound. */
  private loopbackDefault = 0;

  private loopbackCeiling(): number {
    if (this.loopbackDefault === 0) {
      const granted = this.udp.getRecvBufferSize();
      if (granted === 0) return LOOPBACK_MTU_CEILING; // not bound: no connection is made before bind
      this.loopbackDefault = loopbackCeilingFor(granted);
    }
    return this.loopbackDefault;
  }

  private readonly onTick = (): void => {
    this.flushScheduled = false;
    this.endpoint.flush();
    this.driver.arm();
  };

  constructor(opts: UtpSocketOptions = {}) {
    super();
    const preset = presetConfig;
    presetConfig = undefined;
    const config = preset?.config ?? resolveConfig(opts);
    this.config = config;
    this.oneOff = preset?.oneOff ?? false;
    const udpOpts: { recvBufferSize?: number; sendBufferSize?: number } = {};
    if (config.recvBufferSize !== undefined) udpOpts.recvBufferSize = config.recvBufferSize;
    if (config.sendBufferSize !== undefined) udpOpts.sendBufferSize = config.sendBufferSize;
    this.udp = new UdpTransport(udpOpts);
    this.endpointOptions = {
      transport: this.udp,
      timers: this.timers,
      now: monotonicUs,
      connection: config.connection,
      // Per peer: the loopback ceiling follows the receive buffer the kernel granted (read once bound).
      connectionFor: (address) => config.connectionFor(address, this.loopbackCeiling()),
      maxHalfOpen: config.maxHalfOpen,
      ...(config.trace ? { trace: config.trace } : {}),
      ...(config.inspect ? { inspect: config.inspect } : {}),
      onNeedFlush: () => this.kick(),
    };
    this.endpoint = new Endpoint(this.endpointOptions);
    this.endpoint.onMessage = (buf, address, port) => this.onMessage(buf, address, port);
    this.driver = new TimerDriver(this.timers, realClock);
    this.driver.onFire = () => this.kick();
    this.udp.onMessage((buf, address, port) => {
      this.endpoint.handleDatagram(buf, address, port);
      this.kick();
    });
    // Send failures and a throwing handler are counted in udp.stats; they are no reason to crash.
    this.udp.on('warning', (err: Error) => this.emit('warning', err));
    this.udp.on('error', (err: NodeJS.ErrnoException) => {
      // The peer's port is closed (ICMP port unreachable on the connected one-off port): refuse now
      // rather than after the SYN retries.
      if (this.oneOff && err.code === 'ECONNREFUSED') {
        for (const s of this.connections.slice()) s.unreachable();
        return;
      }
      this.emit(this.listenerCount('error') > 0 ? 'error' : 'warning', err);
    });
  }

  /** close() was called: no more connections are accepted, and the port closes after the last one. */
  get closing(): boolean {
    return this.closeRequested;
  }

  /** Accepting incoming connections. */
  get listening(): boolean {
    return this.accepting && this.state === 'bound';
  }

  /**
   * Bind the UDP port (dgram's bind): `bind([port], [address], [cb])` or `bind({ port, address }, [cb])`.
   * The default address is 0.0.0.0, as dgram and utp-native.
   */
  bind(port?: number | string | null, address?: string | null, onListening?: () => void): this;
  bind(port: number | string | null | undefined, onListening: () => void): this;
  bind(onListening: () => void): this;
  bind(options: { port?: number | string; address?: string }, onListening?: () => void): this;
  bind(...args: unknown[]): this {
    const rest = [...args];
    while (rest.length > 0 && (rest.at(-1) === undefined || rest.at(-1) === null)) rest.pop();
    const cb = typeof rest.at(-1) === 'function' ? rest.pop() : undefined;
    let port: unknown;
    let address: unknown;
    if (typeof rest[0] === 'object' && rest[0] !== null) {
      const o = rest[0] as { port?: unknown; address?: unknown };
      port = o.port;
      address = o.address;
    } else [port, address] = rest;
    const p = port === undefined || port === null ? 0 : checkPort(port, 'port', true);
    const host = address === undefined || address === null ? '0.0.0.0' : checkHost(address, 'address');
    return this.doBindCall(p, host, false, cb as (() => void) | undefined);
  }

  /**
   * Bind (if not bound yet) and accept incoming connections, with net's arguments:
   * `listen([port], [host], [backlog], [cb])` or `listen({ port, host, backlog, ipv6Only, signal }, [cb])`.
   * Without a host it listens on IPv6 and IPv4 (`::`, dual-stack), as net does.
   */
  listen(port?: number | string | null, host?: string | null, backlog?: number, onListening?: () => void): this;
  listen(port: number | string | null | undefined, host: string | null | undefined, onListening: () => void): this;
  listen(port: number | string | null | undefined, backlog: number, onListening?: () => void): this;
  listen(port: number | string | null | undefined, onListening: () => void): this;
  listen(onListening: () => void): this;
  listen(options: ListenOptions, onListening?: () => void): this;
  listen(...args: unknown[]): this {
    const { port, host, backlog, ipv6Only, signal, cb } = normalizeListenArgs(args);
    if (backlog !== undefined) this.endpointOptions.maxHalfOpen = backlog;
    if (signal !== undefined) {
      if (signal.aborted) {
        process.nextTick(() => this.close());
        return this;
      }
      const onAbort = (): void => {
        this.close();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    this.setAccepting(true);
    if (this.state === 'unbound') {
      return this.doBindCall(port, host ?? '::', host === undefined && !ipv6Only, cb, ipv6Only);
    }
    if (cb) {
      if (this.state === 'bound') process.nextTick(cb);
      else this.once('listening', cb);
    }
    return this;
  }

  /**
   * Open a connection to `port` on `host` (default 127.0.0.1) from this port; binds first if
   * needed. `connect(port, [host], [options], [cb])` or `connect({ port, host, … }, [cb])`; the
   * callback is a 'connect' listener.
   */
  connect(port: number | string, host?: string, connectListener?: () => void): Socket;
  connect(
    port: number | string,
    host: string | undefined,
    options: Omit<ConnectOptions, 'port' | 'host'>,
    connectListener?: () => void,
  ): Socket;
  connect(port: number | string, connectListener?: () => void): Socket;
  connect(options: ConnectOptions, connectListener?: () => void): Socket;
  connect(...args: unknown[]): Socket {
    const target = normalizeConnectArgs(args);
    const o = target.options;
    // Options of this connection only: the port's own were fixed when it was created.
    const perConnection = Object.keys(o).length === 0 ? this.config : resolveConfig({ ...o, port: undefined });
    const socket = createSocket(
      perConnection === this.config || o.allowHalfOpen === undefined
        ? this.config
        : { ...this.config, allowHalfOpen: perConnection.allowHalfOpen },
    );
    this.adopt(socket, target, perConnection === this.config ? undefined : perConnection.connection);
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
        if (this.state === 'unbound') this.startBind(0, isIP(address) === 6 ? '::' : '0.0.0.0', false);
        // The caller may reuse its buffer once send() returns; this one waits for bind.
        const copy = Uint8Array.prototype.slice.call(buf, offset, offset + length);
        buf = copy;
        offset = 0;
        this.afterBind.push((err) => (err ? done(err) : go(address)));
      }
    };
    if (isIP(host) !== 0) resolved(host);
    else {
      dns.lookup(host, { family: this.lookupFamily() }, (err, ip) => {
        if (err) done(err);
        else resolved(ip);
      });
    }
  }

  /** Throws when not bound, like dgram (net's server.address() returns null instead). */
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

  /**
   * utp-native's: the kernel receive buffer in bytes (now if bound, else at bind). Returns the size
   * the kernel reports once bound (Linux doubles the request).
   */
  setRecvBufferSize(size: number): number {
    checkBufferSize(size);
    this.udp.setRecvBufferSize(size);
    return this.state === 'bound' ? this.udp.getRecvBufferSize() : size;
  }

  setSendBufferSize(size: number): number {
    checkBufferSize(size);
    this.udp.setSendBufferSize(size);
    return this.state === 'bound' ? this.udp.getSendBufferSize() : size;
  }

  /** utp-native's (and dgram's): the IP time-to-live of outgoing datagrams, 1–255. */
  setTTL(ttl: number): number {
    if (typeof ttl !== 'number') throw invalidArgType('ttl', 'of type number', ttl);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw outOfRange('ttl', '>= 1 && <= 255', ttl);
    this.udp.setTTL(ttl);
    return ttl;
  }

  ref(): this {
    this.ownRef = true;
    this.applyRef();
    return this;
  }

  unref(): this {
    this.ownRef = false;
    this.applyRef();
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
    this.applyRef();
    this.closeMaybe();
    return this;
  }

  /** `await using server = createServer()`: close() and wait for 'close'. */
  [Symbol.asyncDispose](): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    return new Promise((resolve) => this.close(() => resolve()));
  }

  /** Accepted connections, ending when close() is called. See Server for the details. */
  [Symbol.asyncIterator](): AsyncIterator<Socket> {
    return acceptIterator(this);
  }

  // ---------------------------------------------------------------- SocketHost

  /** @internal */
  kick(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.onTick);
  }

  /** @internal */
  release(socket: Socket): void {
    const i = this.connections.indexOf(socket);
    if (i >= 0) {
      this.connections.splice(i, 1);
      if (!socket.isRefed) this.unrefedSockets--;
    }
    if (this.accepting && this.maxConnections > 0 && this.connections.length < this.maxConnections) {
      this.endpoint.onConnection = (conn) => this.onConnection(conn);
    }
    this.applyRef();
    this.closeMaybe();
  }

  /** @internal */
  refChanged(socket: Socket, refed: boolean): void {
    if (!this.connections.includes(socket)) return;
    this.unrefedSockets += refed ? -1 : 1;
    this.applyRef();
  }

  // ---------------------------------------------------------------- internals

  /** @internal Start `socket`'s connection to `target` from this port (connect(), and new Socket().connect()). */
  adopt(socket: Socket, target: ConnectTarget, config: ConnectionConfig | undefined): void {
    const { port, host, options } = target;
    socket.init(this, host, port, true);
    this.connections.push(socket);
    if (!socket.isRefed) this.unrefedSockets++;
    this.applyRef();
    if (target.callback) socket.once('connect', target.callback);
    if (options.timeout !== undefined) socket.setTimeout(options.timeout);
    const signal = checkSignal(options.signal, 'options.signal');
    if (signal !== undefined) socket.abortOn(signal);
    if (this.closeRequested && !this.oneOff) {
      process.nextTick(() => socket.fail(new LocalError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Socket is closed')));
      return;
    }
    if (this.state === 'closed') {
      process.nextTick(() => socket.fail(new LocalError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Socket is closed')));
      return;
    }
    const start = (address: string): void => {
      if (socket.destroyed) return;
      const to = this.mapAddress(address);
      if (to === null) {
        socket.fail(new LocalError('EAFNOSUPPORT', `cannot reach ${address} from an ${this.family} socket`));
        return;
      }
      // The endpoint throws only when no connection id is left towards this peer (EADDRNOTAVAIL).
      const open = (): void => {
        try {
          socket.attach(this.endpoint.connect(port, to, config));
        } catch (err) {
          socket.fail(err instanceof Error ? err : new Error(String(err)));
        }
      };
      if (!this.oneOff) {
        open();
        return;
      }
      // One peer only: connect the UDP socket, so the kernel reports the peer's port closed.
      this.udp.connect(port, to).then(
        () => {
          if (!socket.destroyed) open();
        },
        (err: Error) => socket.fail(err),
      );
    };
    const resolved = (address: string): void => {
      if (this.state === 'bound') start(address);
      else {
        if (this.state === 'unbound') {
          const local = options.localAddress ?? (isIP(address) === 6 ? '::' : '0.0.0.0');
          this.startBind(options.localPort ?? 0, local, false);
        }
        this.afterBind.push((err) => (err ? socket.fail(err) : start(address)));
      }
    };
    if (isIP(host) !== 0) resolved(host);
    else {
      const lookup = options.lookup ?? (dns.lookup as unknown as LookupFunction);
      const family = options.family ?? this.lookupFamily();
      // IPv4 first for a name like 'localhost', as utp-native (IPv4 only) would reach it.
      lookup(host, { family, verbatim: false } as LookupOneOptions, (err, ip, addressFamily) => {
        socket.emit('lookup', err, ip, addressFamily, host);
        if (err) socket.fail(err);
        else resolved(ip);
      });
    }
  }

  private doBindCall(
    port: number,
    host: string,
    dualStack: boolean,
    cb: (() => void) | undefined,
    ipv6Only = false,
  ): this {
    if (cb) this.once('listening', cb);
    this.explicitBind = true;
    if (this.closeRequested || this.state === 'closed') {
      process.nextTick(() => this.emit('error', new LocalError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Socket is closed')));
      return this;
    }
    if (this.state !== 'unbound') {
      process.nextTick(() => this.emit('error', new LocalError('ERR_SOCKET_ALREADY_BOUND', 'Socket already bound')));
      return this;
    }
    this.startBind(port, host, dualStack, ipv6Only);
    return this;
  }

  private applyRef(): void {
    if (this.state === 'closed') return;
    const want = (this.ownRef && !this.closeRequested) || this.connections.length > this.unrefedSockets;
    if (want) {
      this.udp.ref();
      this.driver.ref();
    } else {
      this.udp.unref();
      this.driver.unref();
    }
  }

  private lookupFamily(): 0 | 4 | 6 {
    if (this.state === 'unbound' || this.dualStack) return 0;
    return this.family === 'IPv6' ? 6 : 4;
  }

  private setAccepting(on: boolean): void {
    this.accepting = on;
    this.endpoint.onConnection = on ? (conn) => this.onConnection(conn) : undefined;
  }

  private onConnection(conn: Connection): void {
    const socket = createSocket(this.config);
    socket.init(this, conn.remoteAddress, conn.remotePort, false);
    this.connections.push(socket);
    socket.attach(conn);
    if (this.maxConnections > 0 && this.connections.length >= this.maxConnections) {
      this.endpoint.onConnection = undefined;
    }
    if (this.config.pauseOnConnect) socket.pause();
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

  private startBind(port: number, address: string, dualStack: boolean, ipv6Only = false): void {
    this.state = 'binding';
    if (isIP(address) !== 0) {
      this.doBind(port, address, dualStack, ipv6Only);
      return;
    }
    dns.lookup(address, (err, ip) => {
      if (err) this.bindFailed(err);
      else this.doBind(port, ip, false, ipv6Only);
    });
  }

  private doBind(port: number, address: string, dualStack: boolean, ipv6Only: boolean): void {
    this.udp.bind(port, address, ipv6Only).then(
      () => {
        if (this.state !== 'binding') return;
        this.state = 'bound';
        this.family = this.udp.address().family === 'IPv6' ? 'IPv6' : 'IPv4';
        this.dualStack = this.family === 'IPv6' && address === '::' && !ipv6Only;
        this.applyRef();
        this.runAfterBind(null);
        // Out of the promise chain: a throwing listener is an uncaught exception, not a rejection.
        process.nextTick(() => {
          this.emit('listening');
          this.closeMaybe();
        });
      },
      (err: NodeJS.ErrnoException) => {
        // No IPv6 on this host: listen on IPv4 alone, as net does.
        if (dualStack && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL') && this.state === 'binding') {
          this.doBind(port, '0.0.0.0', false, false);
          return;
        }
        process.nextTick(() => this.bindFailed(err));
      },
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
    if (list.length === 0) return;
    this.afterBind = [];
    for (const fn of list) fn(err);
  }

  /** An IP literal in the form this socket's family can send to, or null when it cannot. */
  private mapAddress(address: string): string | null {
    const v = isIP(address);
    if (this.family === 'IPv4') return v === 4 ? address : null;
    if (v === 6) return address;
    // A dual-stack IPv6 socket reaches IPv4 peers, and sees them, as IPv4-mapped addresses.
    return v === 4 && this.dualStack ? `::ffff:${address}` : null;
  }

  private closeMaybe(): void {
    if (!this.closeRequested || this.state === 'closed' || this.state === 'binding') return;
    if (this.connections.length > 0) return;
    this.state = 'closed';
    this.endpoint.close(true);
    if (this.afterBind.length > 0) {
      this.runAfterBind(new LocalError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Socket is closed'));
    }
    // Whatever the last connections queued (a final ack, a FIN) goes out before the port closes.
    this.endpoint.flush();
    this.driver.close();
    this.timers.clear();
    const close = (): void => {
      this.udp.close().then(() => this.emit('close'));
    };
    if (this.config.lingerMs > 0 && this.udp.stats.received > 0) {
      // TIME_WAIT: late packets from the peer (a retransmitted FIN whose ack was lost, data after
      // our destroy) still get an answer instead of silence; the port no longer holds the process.
      this.udp.unref();
      setTimeout(close, this.config.lingerMs).unref();
      return;
    }
    // dgram resolves even an IP literal on the next tick before it sends: closing now would drop
    // those last datagrams, so the port closes one turn later.
    setImmediate(close);
  }
}

/** A UtpSocket for one connection out (connect(), new Socket().connect()): closes after it. */
function openOneOff(socket: Socket, target: ConnectTarget, config: ResolvedConfig): void {
  presetConfig = { config, oneOff: true };
  let udp: UtpSocket;
  try {
    udp = new UtpSocket();
  } finally {
    presetConfig = undefined;
  }
  udp.adopt(socket, target, undefined);
  // Closing only stops accepting; the port stays open until its one connection has ended.
  udp.close();
}

/**
 * net's `connect()`: `connect(port, [host], [cb])`, `connect({ port, host, … }, [cb])`, and
 * utp-native's `connect(port, [host])`; utpx also takes `connect(port, host, options, [cb])`.
 * From a UDP port of its own, which closes when the connection ends (as utp-native's `connect`),
 * after answering late packets for a while without holding the process open. The default host is
 * 127.0.0.1.
 */
export function connect(port: number | string, host?: string, connectListener?: () => void): Socket;
export function connect(
  port: number | string,
  host: string | undefined,
  options: Omit<ConnectOptions, 'port' | 'host'>,
  connectListener?: () => void,
): Socket;
export function connect(port: number | string, connectListener?: () => void): Socket;
export function connect(options: ConnectOptions, connectListener?: () => void): Socket;
export function connect(...args: unknown[]): Socket {
  const target = normalizeConnectArgs(args);
  const config = resolveConfig({ lingerMs: ONE_OFF_LINGER_MS, ...target.options, port: undefined });
  const socket = createSocket(config);
  openOneOff(socket, target, config);
  return socket;
}

registerOneOffConnect((socket, args, config) => {
  const target = normalizeConnectArgs(args);
  const withLinger = config.lingerMs > 0 ? config : { ...config, lingerMs: ONE_OFF_LINGER_MS };
  openOneOff(socket, target, withLinger);
});

function normalizeConnectArgs(args: unknown[]): ConnectTarget {
  const first = args[0];
  let options: Record<string, unknown> = {};
  let port: unknown;
  let host: unknown;
  let callback: unknown;
  if (typeof first === 'object' && first !== null) {
    options = first as Record<string, unknown>;
    if (options.path !== undefined) {
      throw invalidArgValue('options.path', options.path, 'is an IPC path; utpx has no IPC (use a port)');
    }
    if (options.port === undefined) throw missingArgs('"options.port"');
    port = options.port;
    host = options.host;
    callback = args[1];
  } else {
    if (first === undefined) throw missingArgs('"options" or "port"');
    port = first;
    for (let i = 1; i < args.length; i++) {
      const a = args[i];
      if (a === undefined || a === null) continue;
      if (typeof a === 'function') callback = a;
      else if (typeof a === 'string' && i === 1) host = a;
      else if (typeof a === 'object' && i <= 2) options = a as Record<string, unknown>;
      else throw invalidArgType(i === 1 ? 'host' : 'options', i === 1 ? 'of type string' : 'of type object', a);
    }
    if (options.host !== undefined && host === undefined) host = options.host;
  }
  const p = checkPort(port, 'port', false);
  const h = host === undefined || host === null ? '127.0.0.1' : checkHost(host, 'options.host');
  if (callback !== undefined && typeof callback !== 'function') {
    throw invalidArgType('connectListener', 'of type function', callback);
  }
  checkConnectOptions(options);
  return {
    port: p,
    host: h,
    options: options as Partial<ConnectOptions>,
    callback: callback as (() => void) | undefined,
  };
}

function checkConnectOptions(o: Record<string, unknown>): void {
  if (o.family !== undefined && o.family !== 0 && o.family !== 4 && o.family !== 6) {
    throw invalidArgValue('options.family', o.family, 'must be one of: 0, 4, 6');
  }
  if (o.lookup !== undefined && typeof o.lookup !== 'function') {
    throw invalidArgType('options.lookup', 'of type function', o.lookup);
  }
  if (o.localAddress !== undefined && (typeof o.localAddress !== 'string' || isIP(o.localAddress) === 0)) {
    throw invalidArgValue('options.localAddress', o.localAddress, 'must be an IP address');
  }
  if (o.localPort !== undefined) checkPort(o.localPort, 'options.localPort', true);
  if (o.timeout !== undefined) {
    if (typeof o.timeout !== 'number') throw invalidArgType('options.timeout', 'of type number', o.timeout);
    if (!(o.timeout >= 0) || !Number.isFinite(o.timeout)) {
      throw outOfRange('options.timeout', 'a non-negative finite number', o.timeout);
    }
  }
  checkSignal(o.signal, 'options.signal');
}

function normalizeListenArgs(args: unknown[]): {
  port: number;
  host: string | undefined;
  backlog: number | undefined;
  ipv6Only: boolean;
  signal: AbortSignal | undefined;
  cb: (() => void) | undefined;
} {
  const rest = [...args];
  while (rest.length > 0 && rest.at(-1) === undefined) rest.pop();
  let cb: unknown = typeof rest.at(-1) === 'function' ? rest.pop() : undefined;
  const first = rest[0];
  let port: unknown;
  let host: unknown;
  let backlog: unknown;
  let ipv6Only: unknown;
  let signal: AbortSignal | undefined;
  if (typeof first === 'object' && first !== null) {
    const o = first as Record<string, unknown>;
    if (o.path !== undefined)
      throw invalidArgValue('options.path', o.path, 'is an IPC path; utpx has no IPC (use a port)');
    if (o.fd !== undefined || o.handle !== undefined || o._handle !== undefined) {
      throw invalidArgValue('options', first, 'is a handle or file descriptor; utpx listens on a port');
    }
    port = o.port;
    host = o.host;
    backlog = o.backlog;
    ipv6Only = o.ipv6Only;
    signal = checkSignal(o.signal, 'options.signal');
    if (cb === undefined && typeof rest[1] === 'function') cb = rest[1];
  } else {
    port = first;
    // net: listen(port, host, backlog) or listen(port, backlog).
    if (typeof rest[1] === 'number') backlog = rest[1];
    else {
      host = rest[1];
      backlog = rest[2];
    }
  }
  const p = port === undefined || port === null ? 0 : checkPort(port, 'options.port', true);
  const h = host === undefined || host === null ? undefined : checkHost(host, 'options.host');
  if (backlog !== undefined && backlog !== null) {
    if (typeof backlog !== 'number') throw invalidArgType('backlog', 'of type number', backlog);
    if (!Number.isInteger(backlog) || backlog < 1 || backlog > 65535)
      throw outOfRange('backlog', '>= 1 && <= 65535', backlog);
  }
  if (ipv6Only !== undefined && typeof ipv6Only !== 'boolean')
    throw invalidArgType('options.ipv6Only', 'of type boolean', ipv6Only);
  if (cb !== undefined && typeof cb !== 'function') throw invalidArgType('callback', 'of type function', cb);
  return {
    port: p,
    host: h,
    backlog: (backlog ?? undefined) as number | undefined,
    ipv6Only: ipv6Only === true,
    signal,
    cb: cb as (() => void) | undefined,
  };
}

function checkBufferSize(size: unknown): void {
  if (typeof size !== 'number') throw invalidArgType('size', 'of type number', size);
  if (!Number.isInteger(size) || size < 1 || size > 0x7fffffff) throw outOfRange('size', '>= 1 && <= 2147483647', size);
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
