/**
 * A deterministic, seeded network simulator on a virtual µs clock: hosts, one-directional links with
 * delay, jitter, loss, duplication, reordering, a drop-tail queue in front of a bandwidth limit, and
 * an MTU. Endpoints see a `SimSocket` instead of a `dgram.Socket` and schedule their timers on
 * `net.timers`; `run()` jumps the clock from one event to the next, so a 16 MiB transfer takes as
 * long as the CPU needs, never wall-clock time.
 *
 * What happens to a datagram sent on a link, in this order:
 *   1. `sent` is counted.
 *   2. MTU: a payload longer than `mtu` is dropped (`droppedMtu`).
 *   3. Random loss with probability `loss` (`lost`). It is drawn before the queue, so a lost datagram
 *      never uses bandwidth — think of it as loss on the access link ahead of the bottleneck.
 *   4. Bandwidth: if the bytes still waiting to be serialized plus this datagram exceed `queueBytes`,
 *      it is dropped (`droppedQueue`, drop-tail). Otherwise it waits behind everything accepted before
 *      it (its queue delay) and then takes `size * 8 / bandwidthBps` to serialize.
 *   5. Propagation: `delayUs` plus a uniform draw in [0, jitterUs); with probability `reorder` it is
 *      held back another `reorderDelayUs` (`heldBack`). Jitter and hold-back may reorder datagrams.
 *   6. With probability `duplicate` a second copy is delivered (`duplicated`); the copy is made past
 *      the bottleneck (it uses no bandwidth) and draws its own jitter.
 *   7. At arrival the datagram goes to the socket bound to the destination port, or is dropped and
 *      counted as `unbound` if there is none (closed since, or never bound).
 *
 * Delivered buffers are fresh bytes (never the sender's), but views into a shared slab: like a Node
 * Buffer from the pool, their `byteOffset` may be non-zero.
 *
 * The queue is modelled as a fluid: the backlog is the time the link stays busy times its rate, so no
 * per-datagram queue event is needed. Delivery times are rounded to whole µs; ties are delivered in
 * the order the datagrams were sent (a global sequence number), so a run is a pure function of the
 * seed and of what the endpoints do.
 *
 * Within one µs, all datagrams due are delivered first, then the timers due fire, and the two repeat
 * until nothing is left at that instant; then the `onIdle` callbacks run (endpoints flush batched
 * acks there), and if those sent anything due now the instant is processed again.
 */
import { TimerQueue } from '../core/timer-queue.js';
import { deriveSeed, Prng } from './prng.js';

export interface LinkOptions {
  /** One-way propagation delay, µs. Default 0. */
  delayUs?: number;
  /** Uniform extra delay in [0, jitterUs) per datagram (may reorder). Default 0. */
  jitterUs?: number;
  /** Drop probability in [0, 1]. Default 0. */
  loss?: number;
  /** Probability that a datagram is delivered twice. Default 0. */
  duplicate?: number;
  /** Probability that a datagram is held back an extra `reorderDelayUs`. Default 0. */
  reorder?: number;
  /** How long a reordered datagram is held back, µs. Default 2 × delayUs, or 10 ms when delayUs is 0. */
  reorderDelayUs?: number;
  /** Bits per second; undefined or Infinity = no serialization delay and no queue. */
  bandwidthBps?: number;
  /** Drop-tail queue in front of the bandwidth limit, bytes. Default 1 MiB. Ignored without bandwidth. */
  queueBytes?: number;
  /** Largest UDP payload the link carries, bytes; larger datagrams are dropped. Default Infinity. */
  mtu?: number;
  /**
   * Scripted fates by position: the Nth datagram offered to this link (1-based, counted from the
   * link's creation or from the last `setLink`) is dropped, delivered twice, or held back the given
   * µs. Applied before the random options, so a test can lose exactly one handshake or close packet.
   */
  dropNth?: readonly number[];
  duplicateNth?: readonly number[];
  delayNth?: ReadonlyMap<number, number> | readonly (readonly [number, number])[];
}

export interface LinkStats {
  /** Datagrams offered to the link. */
  sent: number;
  /** Datagrams handed to a socket, duplicates included. */
  delivered: number;
  /** Dropped by random loss. */
  lost: number;
  /** Extra copies made by `duplicate`. */
  duplicated: number;
  /** Datagrams that arrived after one sent later on this link (duplicates not counted). */
  reordered: number;
  /** Datagrams held back by the `reorder` option. */
  heldBack: number;
  /** Dropped because the queue was full. */
  droppedQueue: number;
  /** Dropped because they exceeded the MTU. */
  droppedMtu: number;
  /** Arrived at a port with no bound socket (or one with no handler). */
  unbound: number;
  /** Dropped by `dropNth`. */
  droppedScripted: number;
  /** Payload bytes handed to sockets, duplicates included. */
  bytesDelivered: number;
  /** Largest time a datagram waited in the queue before its serialization started, µs. */
  maxQueueDelayUs: number;
  /** Mean queue wait over the datagrams that entered the queue, µs (0 without bandwidth limit). */
  avgQueueDelayUs: number;
  /** Bytes waiting to be serialized right now (fluid backlog). */
  queuedBytes: number;
  /** Datagrams accepted but not yet delivered (or dropped as unbound). */
  inFlight: number;
}

export type DatagramHandler = (buf: Uint8Array, address: string, port: number) => void;

/** What an endpoint sees instead of a `dgram.Socket`. */
export interface SimSocket {
  readonly address: string;
  readonly port: number;
  readonly closed: boolean;
  /** Copies the bytes at send time, so the sender may reuse its buffer at once. */
  send(buf: Uint8Array, offset: number, length: number, port: number, address: string): void;
  /** Sets the one handler (a later call replaces it). Datagrams arriving with no handler are `unbound`. */
  onMessage(handler: DatagramHandler): void;
  close(): void;
}

export interface RunOptions {
  /** Stop (reason 'done') as soon as this is true; checked before starting and after every instant. */
  until?: () => boolean;
  /** Stop (reason 'timeout') before virtual time passes `now() + maxTimeUs`; the clock is left there. */
  maxTimeUs?: number;
  /** Stop (reason 'timeout') once this many events (deliveries and timer firings) have been processed. */
  maxEvents?: number;
}

export interface RunResult {
  reason: 'done' | 'timeout' | 'quiet';
  now: number;
  events: number;
}

/** Virtual time starts here, not at 0, so code that treats 0 as "never" is not fooled. */
export const SIM_START_US = 1_000_000;

const DEFAULT_QUEUE_BYTES = 1 << 20;
const DEFAULT_REORDER_DELAY_US = 10_000;
const FIRST_EPHEMERAL_PORT = 49152; // IANA dynamic port range
const LAST_PORT = 65535;
const SLAB_BYTES = 128 * 1024;
const SLAB_MAX_DATAGRAM = SLAB_BYTES / 8;
// Float slack when comparing fluid backlog bytes, so exact-fit datagrams are not dropped by rounding.
const QUEUE_EPSILON_BYTES = 1e-6;

class Host {
  readonly sockets = new Map<number, SocketImpl>();
  /** Outgoing links by destination address. */
  readonly out = new Map<string, Link>();
  nextEphemeral = FIRST_EPHEMERAL_PORT;
  constructor(readonly address: string) {}
}

class Link {
  // Options, resolved.
  delayUs = 0;
  jitterUs = 0;
  loss = 0;
  duplicate = 0;
  reorder = 0;
  reorderDelayUs = DEFAULT_REORDER_DELAY_US;
  bandwidthBps = Number.POSITIVE_INFINITY;
  queueBytes = DEFAULT_QUEUE_BYTES;
  mtu = Number.POSITIVE_INFINITY;
  dropNth: ReadonlySet<number> | null = null;
  duplicateNth: ReadonlySet<number> | null = null;
  delayNth: ReadonlyMap<number, number> | null = null;
  /** µs per byte of serialization; 0 without a bandwidth limit. */
  usPerByte = 0;

  // State.
  /** When the serializer finishes the last accepted datagram (fractional µs). */
  busyUntil = 0;
  nextIndex = 0;
  maxIndexDelivered = -1;

  // Counters.
  sent = 0;
  delivered = 0;
  lost = 0;
  duplicated = 0;
  reordered = 0;
  heldBack = 0;
  droppedQueue = 0;
  droppedMtu = 0;
  unbound = 0;
  droppedScripted = 0;
  /** Datagrams offered since the last configure(): what the scripted fates count. */
  offered = 0;
  bytesDelivered = 0;
  queued = 0;
  queueDelaySum = 0;
  maxQueueDelayUs = 0;
  inFlight = 0;

  readonly prng: Prng;

  constructor(
    readonly from: string,
    readonly to: Host,
    seed: number,
  ) {
    this.prng = new Prng(deriveSeed(seed, `link ${from} > ${to.address}`));
  }

  configure(o: LinkOptions): void {
    const delay = o.delayUs ?? 0;
    nonNegative('delayUs', delay);
    nonNegative('jitterUs', o.jitterUs ?? 0);
    probability('loss', o.loss ?? 0);
    probability('duplicate', o.duplicate ?? 0);
    probability('reorder', o.reorder ?? 0);
    const bps = o.bandwidthBps ?? Number.POSITIVE_INFINITY;
    if (!(bps > 0)) throw new RangeError(`bandwidthBps must be > 0, got ${bps}`);
    this.delayUs = delay;
    this.jitterUs = o.jitterUs ?? 0;
    this.loss = o.loss ?? 0;
    this.duplicate = o.duplicate ?? 0;
    this.reorder = o.reorder ?? 0;
    this.reorderDelayUs = o.reorderDelayUs ?? (delay > 0 ? 2 * delay : DEFAULT_REORDER_DELAY_US);
    nonNegative('reorderDelayUs', this.reorderDelayUs);
    this.bandwidthBps = bps;
    this.usPerByte = Number.isFinite(bps) ? 8e6 / bps : 0;
    this.queueBytes = o.queueBytes ?? DEFAULT_QUEUE_BYTES;
    nonNegative('queueBytes', this.queueBytes);
    this.mtu = o.mtu ?? Number.POSITIVE_INFINITY;
    nonNegative('mtu', this.mtu);
    this.dropNth = o.dropNth && o.dropNth.length > 0 ? new Set(o.dropNth) : null;
    this.duplicateNth = o.duplicateNth && o.duplicateNth.length > 0 ? new Set(o.duplicateNth) : null;
    const delays =
      o.delayNth === undefined ? null : new Map<number, number>(o.delayNth as Iterable<readonly [number, number]>);
    for (const us of delays?.values() ?? []) nonNegative('delayNth', us);
    this.delayNth = delays !== null && delays.size > 0 ? delays : null;
    this.offered = 0;
  }

  backlogBytes(now: number): number {
    if (this.usPerByte === 0 || this.busyUntil <= now) return 0;
    return (this.busyUntil - now) / this.usPerByte;
  }
}

function nonNegative(name: string, v: number): void {
  if (!(v >= 0)) throw new RangeError(`${name} must be ≥ 0, got ${v}`);
}

function probability(name: string, v: number): void {
  if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} must be in [0, 1], got ${v}`);
}

/** A datagram in flight. Pooled: a long transfer reuses a few hundred of these instead of allocating per packet. */
class Delivery {
  at = 0;
  seq = 0;
  link: Link | null = null;
  buf: Uint8Array | null = null;
  srcPort = 0;
  dstPort = 0;
  index = 0;
  dup = false;
}

class SocketImpl implements SimSocket {
  handler: DatagramHandler | null = null;
  closed = false;

  constructor(
    private readonly engine: Engine,
    readonly host: Host,
    readonly port: number,
  ) {}

  get address(): string {
    return this.host.address;
  }

  send(buf: Uint8Array, offset: number, length: number, port: number, address: string): void {
    if (this.closed) throw new Error(`send on closed socket ${this.host.address}:${this.port}`);
    if (offset < 0 || length < 0 || offset + length > buf.length) {
      throw new RangeError(`send range [${offset}, ${offset + length}) outside buffer of ${buf.length}`);
    }
    this.engine.transmit(this, buf, offset, length, port, address);
  }

  onMessage(handler: DatagramHandler): void {
    this.handler = handler;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handler = null;
    this.host.sockets.delete(this.port);
  }
}

/** The network's state and datagram path; `SimNetwork` is its public face. */
class Engine {
  clock = SIM_START_US;
  readonly hosts = new Map<string, Host>();
  readonly heap: Delivery[] = [];
  private readonly pool: Delivery[] = [];
  private seq = 0;
  private slab = new ArrayBuffer(SLAB_BYTES);
  private slabOffset = 0;

  constructor(readonly seed: number) {}

  transmit(src: SocketImpl, buf: Uint8Array, offset: number, length: number, port: number, address: string): void {
    const link = src.host.out.get(address) ?? this.link(src.host, address);
    link.sent++;
    const nth = ++link.offered;
    if (link.dropNth?.has(nth)) {
      link.droppedScripted++;
      return;
    }
    if (length > link.mtu) {
      link.droppedMtu++;
      return;
    }
    const prng = link.prng;
    if (link.loss > 0 && prng.next() < link.loss) {
      link.lost++;
      return;
    }
    const now = this.clock;
    let depart = now;
    if (link.usPerByte > 0) {
      if (link.backlogBytes(now) + length > link.queueBytes + QUEUE_EPSILON_BYTES) {
        link.droppedQueue++;
        return;
      }
      const start = Math.max(link.busyUntil, now);
      const wait = start - now;
      link.queued++;
      link.queueDelaySum += wait;
      if (wait > link.maxQueueDelayUs) link.maxQueueDelayUs = wait;
      depart = start + length * link.usPerByte;
      link.busyUntil = depart;
    }
    let at = depart + link.delayUs;
    if (link.jitterUs > 0) at += prng.next() * link.jitterUs;
    if (link.reorder > 0 && prng.next() < link.reorder) {
      at += link.reorderDelayUs;
      link.heldBack++;
    }
    const scriptedDelay = link.delayNth?.get(nth);
    if (scriptedDelay !== undefined) {
      at += scriptedDelay;
      link.heldBack++;
    }
    const copy = this.alloc(length);
    copy.set(offset === 0 && length === buf.length ? buf : buf.subarray(offset, offset + length));
    const index = link.nextIndex++;
    this.schedule(Math.round(at), link, copy, src.port, port, index, false);
    const scriptedDup = link.duplicateNth?.has(nth) === true;
    if (scriptedDup || (link.duplicate > 0 && prng.next() < link.duplicate)) {
      link.duplicated++;
      let dupAt = depart + link.delayUs;
      if (link.jitterUs > 0) dupAt += prng.next() * link.jitterUs;
      // The receiver may keep or mutate what it is handed, so the copy gets its own bytes.
      const twin = this.alloc(length);
      twin.set(copy);
      this.schedule(Math.round(dupAt), link, twin, src.port, port, index, true);
    }
  }

  /**
   * Bytes for one datagram, carved from a shared slab as Node's Buffer pool does: a separate
   * allocation per datagram costs several times the copy itself. Views never overlap, so a receiver
   * may keep or mutate what it is handed; it must honour `byteOffset` when it looks at `.buffer`.
   */
  private alloc(length: number): Uint8Array {
    if (length > SLAB_MAX_DATAGRAM) return new Uint8Array(length);
    if (this.slabOffset + length > SLAB_BYTES) {
      this.slab = new ArrayBuffer(SLAB_BYTES);
      this.slabOffset = 0;
    }
    const view = new Uint8Array(this.slab, this.slabOffset, length);
    // 8-byte alignment keeps typed-array views over a received datagram legal.
    this.slabOffset += (length + 7) & ~7;
    return view;
  }

  private schedule(
    at: number,
    link: Link,
    buf: Uint8Array,
    srcPort: number,
    dstPort: number,
    index: number,
    dup: boolean,
  ): void {
    const d = this.pool.pop() ?? new Delivery();
    d.at = at;
    d.seq = this.seq++;
    d.link = link;
    d.buf = buf;
    d.srcPort = srcPort;
    d.dstPort = dstPort;
    d.index = index;
    d.dup = dup;
    link.inFlight++;
    this.heapPush(d);
  }

  deliverTop(): void {
    const d = this.heapPop();
    const link = d.link as Link;
    const buf = d.buf as Uint8Array;
    const srcPort = d.srcPort;
    const dstPort = d.dstPort;
    const index = d.index;
    const dup = d.dup;
    d.link = null;
    d.buf = null;
    // Back to the pool before the handler runs: whatever it sends can reuse this object.
    this.pool.push(d);
    link.inFlight--;
    const sock = link.to.sockets.get(dstPort);
    const handler = sock?.handler;
    if (handler == null) {
      link.unbound++;
      return;
    }
    if (!dup) {
      if (index < link.maxIndexDelivered) link.reordered++;
      else link.maxIndexDelivered = index;
    }
    link.delivered++;
    link.bytesDelivered += buf.length;
    handler(buf, link.from, srcPort);
  }

  host(address: string): Host {
    let h = this.hosts.get(address);
    if (h === undefined) {
      h = new Host(address);
      this.hosts.set(address, h);
    }
    return h;
  }

  link(from: Host, to: string): Link {
    let l = from.out.get(to);
    if (l === undefined) {
      l = new Link(from.address, this.host(to), this.seed);
      from.out.set(to, l);
    }
    return l;
  }

  freePort(host: Host): number {
    const span = LAST_PORT - FIRST_EPHEMERAL_PORT + 1;
    for (let i = 0; i < span; i++) {
      const p = host.nextEphemeral;
      host.nextEphemeral = p === LAST_PORT ? FIRST_EPHEMERAL_PORT : p + 1;
      if (!host.sockets.has(p)) return p;
    }
    throw Object.assign(new Error(`no free port on ${host.address}`), { code: 'EADDRINUSE' });
  }

  // A binary min-heap on (at, seq): equal times leave in send order.

  private heapPush(d: Delivery): void {
    const h = this.heap;
    let i = h.length;
    h.push(d);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as Delivery;
      if (parent.at < d.at || (parent.at === d.at && parent.seq < d.seq)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = d;
  }

  private heapPop(): Delivery {
    const h = this.heap;
    const top = h[0] as Delivery;
    const last = h.pop() as Delivery;
    const n = h.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      let child = h[c] as Delivery;
      const r = c + 1;
      if (r < n) {
        const right = h[r] as Delivery;
        if (right.at < child.at || (right.at === child.at && right.seq < child.seq)) {
          c = r;
          child = right;
        }
      }
      if (last.at < child.at || (last.at === child.at && last.seq < child.seq)) break;
      h[i] = child;
      i = c;
    }
    h[i] = last;
    return top;
  }
}

export class SimNetwork {
  /** For endpoints and tests (connection ids, payloads); links draw from their own derived streams. */
  readonly prng: Prng;
  /** Endpoints schedule their timers here; `run()` fires them in time order with the deliveries. */
  readonly timers = new TimerQueue();
  readonly seed: number;

  private readonly engine: Engine;
  private idleFns: Array<() => void> = [];

  constructor(opts: { seed: number }) {
    this.seed = opts.seed;
    this.prng = new Prng(deriveSeed(opts.seed, 'network'));
    this.engine = new Engine(opts.seed);
  }

  /** Virtual µs; starts at SIM_START_US. */
  now(): number {
    return this.engine.clock;
  }

  /** Datagrams accepted by some link and not yet delivered. */
  get inFlight(): number {
    return this.engine.heap.length;
  }

  /** Adds a host; idempotent. `bind` and `setLink` add the hosts they name, too. */
  addHost(address: string): void {
    this.engine.host(address);
  }

  /** Sets the path from `from` to `to` (one direction). Unset paths are instant and lossless. */
  setLink(from: string, to: string, opts: LinkOptions): void {
    const e = this.engine;
    e.link(e.host(from), to).configure(opts);
  }

  /** Sets both directions between `a` and `b` to the same options (each direction has its own queue). */
  setPath(a: string, b: string, opts: LinkOptions): void {
    this.setLink(a, b, opts);
    this.setLink(b, a, opts);
  }

  /** A snapshot of the counters of the link from `from` to `to`. */
  linkStats(from: string, to: string): LinkStats {
    const e = this.engine;
    const l = e.link(e.host(from), to);
    return {
      sent: l.sent,
      delivered: l.delivered,
      lost: l.lost,
      duplicated: l.duplicated,
      reordered: l.reordered,
      heldBack: l.heldBack,
      droppedQueue: l.droppedQueue,
      droppedMtu: l.droppedMtu,
      unbound: l.unbound,
      droppedScripted: l.droppedScripted,
      bytesDelivered: l.bytesDelivered,
      maxQueueDelayUs: l.maxQueueDelayUs,
      avgQueueDelayUs: l.queued > 0 ? l.queueDelaySum / l.queued : 0,
      queuedBytes: l.backlogBytes(e.clock),
      inFlight: l.inFlight,
    };
  }

  /** Binds a socket; port 0 picks a free port from the dynamic range. Throws EADDRINUSE if taken. */
  bind(address: string, port: number): SimSocket {
    const e = this.engine;
    const host = e.host(address);
    if (!Number.isInteger(port) || port < 0 || port > LAST_PORT) throw new RangeError(`bad port ${port}`);
    if (port === 0) port = e.freePort(host);
    else if (host.sockets.has(port)) {
      throw Object.assign(new Error(`address in use: ${address}:${port}`), { code: 'EADDRINUSE' });
    }
    const s = new SocketImpl(e, host, port);
    host.sockets.set(port, s);
    return s;
  }

  /** Runs `fn` after every instant at which something happened. Returns an unsubscribe function. */
  onIdle(fn: () => void): () => void {
    this.idleFns = [...this.idleFns, fn];
    return () => {
      // Copy on write: an unsubscribe from inside an idle callback must not disturb the loop running it.
      this.idleFns = this.idleFns.filter((f) => f !== fn);
    };
  }

  /**
   * Delivers datagrams and fires timers in time order until `until()` holds ('done'), the next event
   * lies beyond `maxTimeUs` from now or `maxEvents` were processed ('timeout'), or nothing is left
   * ('quiet'). Never sleeps.
   */
  run(opts: RunOptions = {}): RunResult {
    const e = this.engine;
    const until = opts.until;
    const limit = opts.maxTimeUs === undefined ? Number.POSITIVE_INFINITY : e.clock + opts.maxTimeUs;
    const maxEvents = opts.maxEvents ?? Number.POSITIVE_INFINITY;
    const heap = e.heap;
    const timers = this.timers;
    let events = 0;
    // Output queued between runs (a test wrote or ended outside the loop) goes out now, as the Node
    // driver's flush at the end of the event-loop turn would send it.
    for (const fn of this.idleFns) fn();
    if (until?.()) return { reason: 'done', now: e.clock, events };
    for (;;) {
      const top = heap[0];
      const nextTimer = timers.nextDeadline();
      const t = top !== undefined && top.at < nextTimer ? top.at : nextTimer;
      if (t === Number.POSITIVE_INFINITY) return { reason: 'quiet', now: e.clock, events };
      if (t > limit) {
        e.clock = limit;
        return { reason: 'timeout', now: limit, events };
      }
      // A timer armed in the past fires now; the clock never goes back.
      if (t > e.clock) e.clock = t;
      const now = e.clock;
      while (events < maxEvents) {
        const d = heap[0];
        if (d !== undefined && d.at <= now) {
          e.deliverTop();
          events++;
        } else if (timers.nextDeadline() <= now) {
          events += timers.fire(now);
        } else break;
      }
      const fns = this.idleFns;
      for (let i = 0; i < fns.length; i++) (fns[i] as () => void)();
      if (until?.()) return { reason: 'done', now: e.clock, events };
      if (events >= maxEvents) return { reason: 'timeout', now: e.clock, events };
    }
  }
}
