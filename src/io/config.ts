/**
 * Every option of `createServer`, `connect`, `utp()` and `new Socket()` is checked here, once, when
 * the object is created: a bad value throws at the call that passed it (a TypeError or RangeError
 * with Node's `code`, naming the option), never later inside a datagram handler.
 *
 * The protocol settings (`connection`: window sizes, packet sizes, timeouts) are checked here too,
 * against ranges chosen so that every accepted value gives a working connection; they are listed
 * in README.md ("Options").
 */
import type { LedbatOptions } from '../core/ledbat.js';
import { MTU_BASE_IPV4, MTU_BASE_IPV6, MTU_FLOOR_DEFAULT } from '../core/mtu.js';
import type { ConnectionConfig, ConnectionTrace, InspectObserver } from '../machines/connection.js';
import { badPort, invalidArgType, invalidArgValue, outOfRange } from './errors.js';

/** The smallest datagram `maxPacketSize` allows: a uTP header (20 bytes) and 44 bytes of payload. */
export const MIN_PACKET_SIZE = 64;
/** The largest UDP payload over IPv4 (65535 − 20 − 8). */
export const MAX_PACKET_SIZE = 65507;

/**
 * uTP datagram ceiling towards loopback peers when the socket's kernel receive buffer is small
 * (Linux's stock rmem_max, 208 KiB): Linux's lo MTU is 64 KiB, so the ceiling is ours to pick, and
 * 16384 keeps a dozen datagrams in such a buffer where 64 KiB ones would overflow it after three.
 */
export const LOOPBACK_MTU_CEILING = 16384;
/**
 * The loopback ceiling when the kernel granted a receive buffer of at least LARGE_RECV_BUFFER (the
 * 4 MiB utpx asks for by default, where rmem_max allows it). A loopback peer shares the machine's
 * limits, so its buffer is as large. Measured here (30 Nov 2026, 512 MiB, separate processes,
 * interleaved runs, median of 3): 16384 → 725 MB/s, 32768 → 1,155, 65000 → 1,113 (TCP 1,570); in one
 * process 65000 used 0.2–1.0 CPU-s/GB less than 32768. A libutp peer is unaffected: it truncates
 * datagrams past its 1,500-byte read buffer, so path MTU discovery stays at its size.
 */
export const LOOPBACK_MTU_CEILING_LARGE = 65000;
/** Kernel receive buffer (as the socket reports it) from which loopback peers get LOOPBACK_MTU_CEILING_LARGE. */
export const LARGE_RECV_BUFFER = 2 * 1024 * 1024;

/** The default loopback ceiling for a socket whose kernel receive buffer is `recvBufferBytes`. */
export function loopbackCeilingFor(recvBufferBytes: number): number {
  return recvBufferBytes >= LARGE_RECV_BUFFER ? LOOPBACK_MTU_CEILING_LARGE : LOOPBACK_MTU_CEILING;
}
/** Ethernet 1500 minus IPv4 (20) and UDP (8) headers. */
export const IPV4_MTU_CEILING = 1500 - 28;
/** Ethernet 1500 minus IPv6 (40) and UDP (8) headers. */
export const IPV6_MTU_CEILING = 1500 - 48;

/**
 * net's default listen backlog, exported for code that passes it along. utpx's SYN queue (SYNs
 * answered whose initiators have not spoken since) defaults to the endpoint's DEFAULT_SYN_QUEUE
 * (65,536); a backlog given to `listen()` becomes its bound (`maxHalfOpen`). See docs/security.md.
 */
export const DEFAULT_BACKLOG = 511;

/** How long a one-off `connect()` port stays open after its connection, answering late packets (TIME_WAIT). */
export const ONE_OFF_LINGER_MS = 10_000;

/** The protocol settings of every connection (see ProtocolOptions' fields for ranges). */
export type ProtocolOptions = ConnectionConfig;

/** What a stream socket takes. */
export interface SocketOptions {
  /** When false, the peer's FIN ends our side too once the readable side has ended (default true, as utp-native). */
  allowHalfOpen?: boolean;
  /** net's: accepted for compatibility; uTP sends every write at once (there is no Nagle delay to turn off). */
  noDelay?: boolean;
  /** net's: accepted for compatibility; uTP keepalives are always on (every `connection.keepaliveMs`, 29 s). */
  keepAlive?: boolean;
  /** net's: accepted for compatibility, like keepAlive. */
  keepAliveInitialDelay?: number;
}

/** Options of every utpx UDP socket: `utp()`, `createServer()`, and `connect()`'s own. */
export interface UtpSocketOptions extends SocketOptions {
  /**
   * The largest datagram sent (uTP header + payload = UDP payload), MIN_PACKET_SIZE to
   * MAX_PACKET_SIZE. Path MTU discovery searches up to it. Default: to loopback peers 65000 when the
   * kernel granted a receive buffer of 2 MiB or more, else 16384; 1472 over IPv4, 1452 over IPv6.
   */
  maxPacketSize?: number;
  /** Give up connecting after this many ms (default 10 000): `connection.connectTimeoutMs`. */
  connectTimeout?: number;
  /** Protocol settings for every connection (window sizes, packet sizes, timeouts, LEDBAT). */
  connection?: ProtocolOptions;
  /**
   * Datagram ceiling for loopback peers when maxPacketSize is not set (default: 65000 when the
   * kernel granted the socket a receive buffer of 2 MiB or more, else 16384).
   */
  loopbackMtu?: number;
  /** Kernel buffer sizes for the UDP socket in bytes (default 4 MiB each, as far as the system allows). */
  recvBufferSize?: number;
  sendBufferSize?: number;
  /**
   * SYNs answered whose initiators have not spoken since (the SYN queue; default DEFAULT_SYN_QUEUE,
   * 65,536). Past it, a new SYN is dropped (its initiator retries) unless the oldest record is over
   * a second old, which is then forgotten (a flood).
   */
  maxHalfOpen?: number;
  /** net's server option: accepted sockets start paused (their receive window closes until read). */
  pauseOnConnect?: boolean;
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

/** The options checked and filled in. */
export interface ResolvedConfig {
  readonly allowHalfOpen: boolean;
  readonly pauseOnConnect: boolean;
  readonly lingerMs: number;
  readonly recvBufferSize: number | undefined;
  readonly sendBufferSize: number | undefined;
  /** The SYN queue bound (Endpoint's DEFAULT_SYN_QUEUE when not given). */
  readonly maxHalfOpen: number | undefined;
  readonly trace: ConnectionTrace | undefined;
  readonly inspect: InspectObserver | undefined;
  /** Settings for every connection (validated); per-peer packet ceilings come from `connectionFor`. */
  readonly connection: ConnectionConfig;
  /**
   * Per-peer settings over `connection`: the packet ceiling for the peer's path, unless one was
   * fixed. `loopbackDefault` is the loopback ceiling to use when loopbackMtu was not given (the
   * socket's loopbackCeilingFor its receive buffer; LOOPBACK_MTU_CEILING when absent).
   */
  readonly connectionFor: (address: string, loopbackDefault?: number) => ConnectionConfig | undefined;
}

const MAX_TIMER_MS = 0x7fffffff;
const GiB = 1 << 30;

type Check = (value: unknown, name: string) => void;

function integer(min: number, max: number): Check {
  return (value, name) => {
    if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
    if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
    if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
  };
}

function finite(min: number, max: number, minExclusive = false): Check {
  return (value, name) => {
    if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
    if (!Number.isFinite(value) || (minExclusive ? value <= min : value < min) || value > max) {
      throw outOfRange(name, `${minExclusive ? '>' : '>='} ${min} && <= ${max}`, value);
    }
  };
}

function powerOfTwo(min: number, max: number): Check {
  const range = integer(min, max);
  return (value, name) => {
    range(value, name);
    const n = value as number;
    if ((n & (n - 1)) !== 0) throw invalidArgValue(name, value, `must be a power of two from ${min} to ${max}`);
  };
}

const boolean: Check = (value, name) => {
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
};

const func: Check = (value, name) => {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value);
};

const observer: Check = (value, name) => {
  if (typeof value === 'function') return;
  if (typeof value === 'object' && value !== null && typeof (value as { next?: unknown }).next === 'function') return;
  throw invalidArgType(name, 'a function or an observer ({ next })', value);
};

const PACKET_SIZE = integer(MIN_PACKET_SIZE, MAX_PACKET_SIZE);
const US_1MS = 1_000;
const US_10MIN = 600_000_000;

/** LEDBAT (RFC 6817) settings; byte counts and µs. */
const LEDBAT_CHECKS: Record<keyof LedbatOptions, Check> = {
  packetSize: integer(1, MAX_PACKET_SIZE),
  targetDelayUs: integer(US_1MS, 10_000_000),
  maxCwndIncreasePerRtt: finite(0, GiB, true),
  minCwnd: finite(0, GiB, true),
  initialCwnd: finite(0, GiB, true),
  maxCwnd: finite(0, GiB, true),
  windowDecayUs: integer(0, US_10MIN),
  slowStart: boolean,
};

/** The protocol settings and their ranges (README "Options" lists them). */
const CONNECTION_CHECKS: Record<keyof ConnectionConfig, Check> = {
  recvWindowBytes: integer(1024, GiB),
  sendQueueBytes: integer(1024, GiB),
  sendBufferPackets: powerOfTwo(16, 32768),
  reorderPackets: powerOfTwo(16, 32768),
  mtuFloor: PACKET_SIZE,
  mtuCeiling: PACKET_SIZE,
  packetSize: PACKET_SIZE,
  maxRetransmits: integer(0, 100),
  minRtoUs: integer(US_1MS, US_10MIN),
  maxRtoUs: integer(US_1MS, US_10MIN),
  initialRtoUs: integer(US_1MS, US_10MIN),
  ledbat: (value, name) => checkObject(value, name, LEDBAT_CHECKS),
  zeroWindowProbeMaxUs: integer(500_000, US_10MIN),
  pacing: boolean,
  synRtoMs: integer(1, 60_000),
  synRetries: integer(0, 10),
  connectTimeoutMs: integer(1, MAX_TIMER_MS),
  keepaliveMs: integer(10, MAX_TIMER_MS),
  idleTimeoutMs: integer(0, MAX_TIMER_MS),
};

function checkObject<T extends object>(value: unknown, name: string, checks: Record<keyof T, Check>): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidArgType(name, 'of type object', value);
  }
  for (const [key, v] of Object.entries(value)) {
    const check = (checks as Record<string, Check | undefined>)[key];
    // A misspelt protocol setting would otherwise be ignored without a word.
    if (check === undefined) {
      throw invalidArgValue(`${name}.${key}`, v, `is not an option (known: ${Object.keys(checks).join(', ')})`);
    }
    if (v !== undefined) check(v, `${name}.${key}`);
  }
}

/** Checks a protocol settings object (e.g. `options.connection`) and returns a copy without undefined fields. */
export function checkProtocolOptions(value: unknown, name = 'options.connection'): ConnectionConfig {
  checkObject(value, name, CONNECTION_CHECKS);
  const c = { ...(value as ConnectionConfig) };
  for (const key of Object.keys(c) as (keyof ConnectionConfig)[]) if (c[key] === undefined) delete c[key];
  if (c.mtuFloor !== undefined && c.mtuCeiling !== undefined && c.mtuFloor > c.mtuCeiling) {
    throw invalidArgValue(`${name}.mtuFloor`, c.mtuFloor, `must not exceed ${name}.mtuCeiling (${c.mtuCeiling})`);
  }
  if (c.packetSize !== undefined && c.mtuCeiling !== undefined && c.packetSize > c.mtuCeiling) {
    throw invalidArgValue(`${name}.packetSize`, c.packetSize, `must not exceed ${name}.mtuCeiling (${c.mtuCeiling})`);
  }
  if (c.minRtoUs !== undefined && c.maxRtoUs !== undefined && c.minRtoUs > c.maxRtoUs) {
    throw invalidArgValue(`${name}.minRtoUs`, c.minRtoUs, `must not exceed ${name}.maxRtoUs (${c.maxRtoUs})`);
  }
  const l = c.ledbat;
  if (l?.minCwnd !== undefined && l.maxCwnd !== undefined && l.minCwnd > l.maxCwnd) {
    throw invalidArgValue(`${name}.ledbat.minCwnd`, l.minCwnd, `must not exceed ${name}.ledbat.maxCwnd (${l.maxCwnd})`);
  }
  return c;
}

/** Option checks of the socket-level fields (undefined means "not given" for all of them). */
const SOCKET_CHECKS: Record<string, Check> = {
  allowHalfOpen: boolean,
  noDelay: boolean,
  keepAlive: boolean,
  keepAliveInitialDelay: integer(0, MAX_TIMER_MS),
  maxPacketSize: PACKET_SIZE,
  connectTimeout: integer(1, MAX_TIMER_MS),
  loopbackMtu: PACKET_SIZE,
  recvBufferSize: integer(1, 0x7fffffff),
  sendBufferSize: integer(1, 0x7fffffff),
  maxHalfOpen: integer(1, 1 << 20),
  pauseOnConnect: boolean,
  trace: func,
  inspect: observer,
  lingerMs: integer(0, MAX_TIMER_MS),
};

/** net options with no meaning over uTP that would change what the code does if silently ignored. */
const UNSUPPORTED: Record<string, string> = {
  path: 'is an IPC path; utpx has no IPC (use a port)',
  fd: 'is a file descriptor; utpx opens its own UDP socket',
  onread: 'is not supported; read with "data" events or read()',
};

/**
 * Check `opts` (as given to createServer, connect, utp() or new Socket) and fill in the defaults.
 * `name` is how the error messages call the object ("options").
 */
export function resolveConfig(opts: unknown, name = 'options'): ResolvedConfig {
  if (opts === undefined || opts === null) opts = {};
  if (typeof opts !== 'object' || Array.isArray(opts)) throw invalidArgType(name, 'of type object', opts);
  const o = opts as Record<string, unknown>;
  for (const [key, reason] of Object.entries(UNSUPPORTED)) {
    if (o[key] !== undefined) throw invalidArgValue(`${name}.${key}`, o[key], reason);
  }
  for (const [key, check] of Object.entries(SOCKET_CHECKS)) {
    if (o[key] !== undefined) check(o[key], `${name}.${key}`);
  }
  const u = o as UtpSocketOptions;
  const connection = u.connection === undefined ? {} : checkProtocolOptions(u.connection, `${name}.connection`);
  const maxPacketSize = u.maxPacketSize;
  if (maxPacketSize !== undefined) {
    for (const fixed of ['mtuCeiling'] as const) {
      if (connection[fixed] !== undefined) {
        throw invalidArgValue(
          `${name}.maxPacketSize`,
          maxPacketSize,
          `and ${name}.connection.${fixed} both set the largest datagram; give one`,
        );
      }
    }
    if (u.loopbackMtu !== undefined) {
      throw invalidArgValue(`${name}.loopbackMtu`, u.loopbackMtu, `is fixed by ${name}.maxPacketSize; give one`);
    }
    if (connection.mtuFloor !== undefined && connection.mtuFloor > maxPacketSize) {
      throw invalidArgValue(`${name}.connection.mtuFloor`, connection.mtuFloor, `must not exceed maxPacketSize`);
    }
    if (connection.packetSize !== undefined && connection.packetSize > maxPacketSize) {
      throw invalidArgValue(`${name}.connection.packetSize`, connection.packetSize, `must not exceed maxPacketSize`);
    }
    // The ceiling for every peer, loopback too; the search's floor follows a ceiling below it.
    connection.mtuCeiling = maxPacketSize;
    connection.mtuFloor = Math.min(connection.mtuFloor ?? MTU_FLOOR_DEFAULT, maxPacketSize);
  }
  if (u.connectTimeout !== undefined) connection.connectTimeoutMs = u.connectTimeout;
  // Read now: the closure below must not see later changes to the caller's options object.
  const loopbackMtu = u.loopbackMtu;
  const fixedCeiling = connection.mtuCeiling !== undefined;
  const fixedBase = connection.packetSize !== undefined;
  return {
    allowHalfOpen: u.allowHalfOpen ?? true,
    pauseOnConnect: u.pauseOnConnect ?? false,
    lingerMs: u.lingerMs ?? 0,
    recvBufferSize: u.recvBufferSize,
    sendBufferSize: u.sendBufferSize,
    maxHalfOpen: u.maxHalfOpen,
    trace: u.trace,
    inspect: u.inspect,
    connection,
    connectionFor: (address, loopbackDefault = LOOPBACK_MTU_CEILING) => {
      // DPLPMTUD's base: the size every path of the peer's family carries (RFC 8899).
      const base = fixedBase
        ? {}
        : { packetSize: Math.min(mtuBaseFor(address), connection.mtuCeiling ?? MAX_PACKET_SIZE) };
      if (fixedCeiling) return base;
      return { mtuCeiling: packetCeilingFor(address, loopbackMtu ?? loopbackDefault), ...base };
    },
  };
}

/** DPLPMTUD's base size towards `address`: what every IPv4 (1,200) or IPv6 (1,280) path carries, less the headers. */
export function mtuBaseFor(address: string): number {
  return address.includes(':') && !address.includes('.') ? MTU_BASE_IPV6 : MTU_BASE_IPV4;
}

/** The default datagram ceiling towards `address`. */
export function packetCeilingFor(address: string, loopbackMtu = LOOPBACK_MTU_CEILING): number {
  if (isLoopback(address)) return loopbackMtu;
  // An IPv4 peer of a dual-stack socket (::ffff:a.b.c.d) is reached over IPv4.
  if (address.includes(':') && !address.includes('.')) return IPV6_MTU_CEILING;
  return IPV4_MTU_CEILING;
}

export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

/**
 * A port as net checks it: a number or a numeric string, an integer below 65536 (0 only when
 * `allowZero`, as for listen). Returns the number.
 */
export function checkPort(value: unknown, name: string, allowZero: boolean): number {
  if (
    (typeof value !== 'number' && typeof value !== 'string') ||
    (typeof value === 'string' && value.trim().length === 0) ||
    +value !== +value >>> 0 ||
    +value > 0xffff ||
    (+value === 0 && !allowZero)
  ) {
    throw badPort(name, value, allowZero);
  }
  return +value;
}

/** A host name or address: a non-empty string. */
export function checkHost(value: unknown, name: string): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  if (value.length === 0) throw invalidArgValue(name, value, 'must not be empty');
  return value;
}

/** An AbortSignal, as net checks `options.signal`. */
export function checkSignal(value: unknown, name: string): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || !('aborted' in value) || !('addEventListener' in value)) {
    throw invalidArgType(name, 'an instance of AbortSignal', value);
  }
  return value as AbortSignal;
}
