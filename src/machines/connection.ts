/**
 * A connection: the protocol core and its lifecycle actor, wired together. This is what the
 * endpoint demultiplexes to and what the stream and the simulator tests drive.
 *
 * The wiring, both ways: facts the core reports (`core.facts`) go to the actor as events after
 * each input; effects the chart emits (`actor.on`) are carried out on the core here. Neither knows
 * the other. The connection owns one entry in the endpoint's timer queue for the core's deadlines;
 * the actor's delays go on the same queue through an XState clock adapter — the one place where
 * the chart's milliseconds become the core's microseconds — so the whole connection runs on
 * whatever clock the endpoint has.
 */
import { type Actor, type AnyActorRef, createActor, fromTransition, type InspectionEvent, type Observer } from 'xstate';

/** What `createActor`'s `inspect` option takes. */
export type InspectObserver = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

import {
  ConnectionCore,
  type ConnectionOptions,
  type CoreEvent,
  type Role,
  type SynAnswered,
  type TraceRecord,
} from '../core/connection.js';
import type { TimerHandle, TimerQueue } from '../core/timer-queue.js';
import type { PacketLayout } from '../wire/codec.js';
import {
  type ConnectionEffect,
  connectionMachine,
  DEFAULT_LIFECYCLE,
  type LifecycleConfig,
  type Outcome,
} from './connection.machine.js';

/** The chart's milliseconds as the core's microseconds. */
const msToUs = (ms: number): number => ms * 1000;

export interface ConnectionConfig extends ConnectionOptions, Partial<LifecycleConfig> {}

/** Which connection a trace record belongs to: the peer and the id this side receives on. */
export interface TraceConnection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The connection id this side receives on (0 before an initiator has sent its SYN). */
  readonly localId: number;
}

/** A packet in or out, with the connection it belongs to. */
export interface PacketTraceRecord extends TraceRecord, TraceConnection {}

/** A lifecycle state change, for traces. */
export interface StateTraceRecord extends TraceConnection {
  readonly kind: 'state';
  /** µs, the connection's clock. */
  readonly at: number;
  /** The chart's state value, e.g. 'connecting' or { connected: { send: 'open', … } }. */
  readonly value: unknown;
  /** The event that caused the change (e.g. 'SYN_ACKED', 'xstate.after.synRto…'). */
  readonly event: string;
}

export type ConnectionTraceRecord = PacketTraceRecord | StateTraceRecord;
export type ConnectionTrace = (record: ConnectionTraceRecord) => void;

/** What a connection needs from the endpoint that owns it. */
export interface ConnectionEnv {
  timers: TimerQueue;
  now: () => number;
  random16: () => number;
  /** Returns true when the transport kept `buf` by reference (see ConnectionHooks.transmit). */
  transmit: (buf: Uint8Array, length: number, conn: Connection) => unknown;
  needFlush: (conn: Connection) => void;
  /** Called once when the connection reaches a final state. */
  released: (conn: Connection) => void;
  trace?: ConnectionTrace | undefined;
  /** XState inspection observer for the lifecycle actor, e.g. `createBrowserInspector().inspect`. */
  inspect?: InspectObserver | undefined;
}

/** Callbacks the owner of the connection (a stream, a test) sets. */
export interface ConnectionEvents {
  onConnect?: () => void;
  onData?: (payload: Uint8Array) => void;
  /** The input batch ended (the endpoint's flush): data delivered during it may be handed on now. */
  onBatchEnd?: () => void;
  onEnd?: () => void;
  onDrain?: () => void;
  /** Our FIN was acknowledged: everything written has reached the peer. */
  onFinAcked?: () => void;
  onClose?: (outcome: Outcome, code: string | undefined) => void;
  unreadBytes?: () => number;
}

type ConnectionActor = Actor<typeof connectionMachine>;

/**
 * The chart's config with the defaults filled in. A connection that overrides none of them shares
 * DEFAULT_LIFECYCLE (the chart only reads it), so idle connections keep no copy each.
 */
function lifecycleFor(config: ConnectionConfig): LifecycleConfig {
  const d = DEFAULT_LIFECYCLE;
  const lifecycle: LifecycleConfig = {
    synRtoMs: config.synRtoMs ?? d.synRtoMs,
    synRetries: config.synRetries ?? d.synRetries,
    connectTimeoutMs: config.connectTimeoutMs ?? d.connectTimeoutMs,
    keepaliveMs: config.keepaliveMs ?? d.keepaliveMs,
    idleTimeoutMs: config.idleTimeoutMs ?? d.idleTimeoutMs,
    maxRetransmits: config.maxRetransmits ?? d.maxRetransmits,
  };
  const same =
    lifecycle.synRtoMs === d.synRtoMs &&
    lifecycle.synRetries === d.synRetries &&
    lifecycle.connectTimeoutMs === d.connectTimeoutMs &&
    lifecycle.keepaliveMs === d.keepaliveMs &&
    lifecycle.idleTimeoutMs === d.idleTimeoutMs &&
    lifecycle.maxRetransmits === d.maxRetransmits;
  return same ? d : lifecycle;
}

type XStateClock = {
  setTimeout: (fn: (...args: unknown[]) => void, ms: number) => unknown;
  clearTimeout: (handle: unknown) => void;
};

/** One XState clock per environment (an endpoint shares one among its connections). */
const clocks = new WeakMap<ConnectionEnv, XStateClock>();

/** The actor's clock: its delays as entries on the env's timer queue, in the env's time. */
function clockFor(env: ConnectionEnv): XStateClock {
  let clock = clocks.get(env);
  if (clock === undefined) {
    const { timers, now } = env;
    clock = {
      setTimeout: (fn, ms) => timers.schedule(now() + msToUs(ms), fn),
      clearTimeout: (handle) => timers.cancel(handle as TimerHandle),
    };
    clocks.set(env, clock);
  }
  return clock;
}

/**
 * Every root XState actor makes its own system: a scheduler, registries and some twenty closures,
 * ~3 KB of heap per connection end, more than the actor itself. So a connection's actor is instead
 * created with a parent, a host actor that does nothing, and joins the host's system; up to
 * ACTORS_PER_HOST connections share one. Not one host for all: a finishing actor's system cancels
 * its timers by scanning every event scheduled in the system (XState's cancelAll), so the cost of a
 * close grows with the connections sharing it. A host is dropped once its last connection finishes.
 */
interface ActorHost {
  readonly actor: AnyActorRef;
  /** Connections whose actor is in this host's system and has not finished. */
  live: number;
}

const ACTORS_PER_HOST = 64;

/**
 * The host actor's logic: it only receives what XState sends a parent (a child's done event, or its
 * error). An error is reported as a root actor's unobserved error is (XState throws it from a
 * timer), so a fault in the chart does not vanish into the host.
 */
const hostLogic = fromTransition((state: null, event: { type: string; error?: unknown }) => {
  if (event.type.startsWith('xstate.error.actor')) {
    const err = event.error;
    setTimeout(() => {
      throw err;
    });
  }
  return state;
}, null);

/** Hosts with their connections, per env (an endpoint keeps its own). */
const hosts = new WeakMap<ConnectionEnv, ActorHost[]>();

/** A host of `env` with room for one more connection (the first that has room, or a new one). */
function hostFor(env: ConnectionEnv): ActorHost {
  let list = hosts.get(env);
  if (list === undefined) {
    list = [];
    hosts.set(env, list);
  }
  for (const h of list) if (h.live < ACTORS_PER_HOST) return h;
  const host: ActorHost = { actor: createActor(hostLogic, { clock: clockFor(env) }).start(), live: 0 };
  list.push(host);
  return host;
}

/**
 * A connection's actor finished: its host has room again, and goes once it hosts no one (unless it
 * is the env's last: one connection at a time should not make a host each).
 */
function leaveHost(env: ConnectionEnv, host: ActorHost): void {
  host.live--;
  if (host.live > 0) return;
  const list = hosts.get(env);
  if (list === undefined || list.length === 1) return;
  const i = list.indexOf(host);
  if (i >= 0) list.splice(i, 1);
}

export class Connection {
  readonly core: ConnectionCore;
  readonly actor: ConnectionActor;
  readonly remoteAddress: string;
  readonly remotePort: number;
  events: ConnectionEvents = {};
  /** Set by the endpoint while the connection waits in its flush list. */
  flushQueued = false;
  private readonly env: ConnectionEnv;
  private readonly lifecycle: LifecycleConfig;
  /** @internal The core's packet trace hook (ConnectionHooks.trace), set only when tracing. */
  readonly trace: ((record: TraceRecord) => void) | undefined;
  private timer: TimerHandle | undefined;
  private timerAt = 0;
  /** The host whose XState system the actor belongs to (none when inspected). */
  private host: ActorHost | undefined;

  constructor(
    role: Role,
    remoteAddress: string,
    remotePort: number,
    env: ConnectionEnv,
    config: ConnectionConfig = {},
  ) {
    this.env = env;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
    const trace = env.trace;
    if (trace) {
      this.trace = (r: TraceRecord) =>
        trace({ ...r, remoteAddress: this.remoteAddress, remotePort: this.remotePort, localId: this.core.recvId });
    }
    const lifecycle = lifecycleFor(config);
    this.lifecycle = lifecycle;
    // The connection is the core's hooks itself (its ConnectionHooks methods below, @internal, so not
    // declared with `implements`: the published types leave them out): no closures per connection.
    // The core stops retransmitting past the same limit the chart ends the connection at.
    this.core = new ConnectionCore(role, this, { ...config, maxRetransmits: lifecycle.maxRetransmits });
    const inspect = traceStates(env.inspect, trace, env.now, this);
    if (inspect) {
      // Inspected (or traced): a root actor, with the system its observer watches to itself.
      this.actor = createActor(connectionMachine, {
        input: { config: lifecycle },
        inspect,
        // XState's delays run on the endpoint's timer queue, so simulated time drives them too.
        clock: clockFor(env),
      });
    } else {
      // Otherwise the actor joins a host's XState system (see ActorHost), whose clock is the same.
      this.host = hostFor(env);
      this.host.live++;
      this.actor = createActor(connectionMachine, { input: { config: lifecycle }, parent: this.host.actor });
    }
    this.actor.on('*', (effect) => this.onEffect(effect as ConnectionEffect));
    this.actor.start();
  }

  // ---------------------------------------------------------------- ConnectionHooks (the core calls these)

  /** @internal */
  transmit(buf: Uint8Array, length: number): unknown {
    return this.env.transmit(buf, length, this);
  }

  /** @internal */
  deliver(payload: Uint8Array): void {
    // Lifecycle facts the packet produced before this payload (the initiator heard from, …)
    // reach the chart first, so the owner sees them in the order they happened.
    if (this.core.facts.length > 0) this.drainFacts();
    this.events.onData?.(payload);
  }

  /** @internal */
  writable(): void {
    this.events.onDrain?.();
  }

  /** @internal */
  unreadBytes(): number {
    return this.events.unreadBytes?.() ?? 0;
  }

  /** @internal */
  needFlush(): void {
    this.env.needFlush(this);
  }

  /** Lifecycle state value, e.g. 'connecting' or { connected: {...} }. */
  get state(): unknown {
    return this.actor.getSnapshot().value;
  }

  /** The lifecycle reached a final state. */
  get closed(): boolean {
    return this.actor.getSnapshot().status === 'done';
  }

  /** How it ended (the chart's output), once closed. */
  get outcome(): Outcome | undefined {
    return this.actor.getSnapshot().output?.outcome;
  }

  /** The error code it ended with (`net`'s names), if any. */
  get code(): string | undefined {
    return this.actor.getSnapshot().output?.code;
  }

  /** In the chart's `connected` state: the handshake completed on both sides, and it has not ended. */
  get connected(): boolean {
    return this.actor.getSnapshot().matches('connected');
  }

  /** The peer's stream has ended and every byte of it was delivered. */
  get readEnded(): boolean {
    const snap = this.actor.getSnapshot();
    return snap.matches({ connected: { receive: 'ended' } }) || snap.output?.outcome === 'closed';
  }

  /** What the chart asked for, carried out on the core or handed to the owner. */
  private onEffect(effect: ConnectionEffect): void {
    const now = this.env.now();
    const core = this.core;
    switch (effect.type) {
      case 'sendSyn':
        // The endpoint assigned the ids; the initial seq_nr is drawn for the first SYN only.
        core.sendSyn(now, this.env.random16());
        break;
      case 'acceptSyn':
        core.acceptSyn(now, effect.packet, effect.initialSeq ?? this.env.random16(), effect.answered);
        break;
      case 'queueFin':
        core.queueFin();
        break;
      case 'sendFinOnce':
        core.sendFinOnce(now);
        break;
      case 'sendReset':
        core.sendReset(now);
        break;
      case 'livenessTick':
        core.livenessTick(now, msToUs(this.lifecycle.keepaliveMs), msToUs(this.lifecycle.idleTimeoutMs));
        // Its answer (PEER_IDLE) goes to the chart after the current step.
        if (core.facts.length > 0) this.drainFacts();
        break;
      case 'connected':
        this.events.onConnect?.();
        break;
      case 'readEnded':
        this.events.onEnd?.();
        break;
      case 'finished':
        this.onFinished(effect.outcome, effect.code, effect.clean);
        break;
    }
  }

  get recvId(): number {
    return this.core.recvId;
  }

  get sendId(): number {
    return this.core.sendId;
  }

  /** Initiator: open the connection, receiving on `recvId` (the endpoint picked one free for this peer). */
  connect(recvId: number): void {
    this.core.assignIds(recvId);
    this.actor.send({ type: 'CONNECT' });
    this.afterInput();
  }

  /**
   * Acceptor: take the SYN. With `initialSeq` and `answered`, the endpoint has already sent the
   * SYN-ACK (from its SYN queue) and the connection takes on what it announced.
   */
  accept(syn: Uint8Array, initialSeq?: number, answered?: SynAnswered): void {
    this.actor.send({
      type: 'SYN',
      packet: syn,
      ...(initialSeq !== undefined ? { initialSeq } : {}),
      ...(answered !== undefined ? { answered } : {}),
    });
    this.afterInput();
  }

  /** Queue bytes; false when the send queue is over its limit (wait for onDrain). */
  write(chunk: Uint8Array): boolean {
    return this.core.write(chunk);
  }

  end(): void {
    if (this.closed) return;
    this.actor.send({ type: 'END' });
    this.env.needFlush(this);
  }

  destroy(code?: string): void {
    if (this.closed) return;
    this.actor.send({ type: 'DESTROY', code });
  }

  /** The application consumed delivered bytes: the window may reopen. */
  read(): void {
    this.core.onRead();
  }

  handlePacket(buf: Uint8Array, layout: PacketLayout): void {
    this.core.handlePacket(buf, layout, this.env.now());
    if (this.core.facts.length > 0) this.drainFacts();
    this.afterInput();
  }

  /** The core's facts, in order, to the chart (whose actions may command the core and add more). */
  private drainFacts(): void {
    const facts = this.core.facts;
    while (facts.length > 0) {
      const event = facts.shift() as CoreEvent;
      this.actor.send(event);
      if (event.type === 'FIN_ACKED') this.events.onFinAcked?.();
    }
    // Emptied by shift(), the array keeps its grown backing store; length 0 lets V8 drop it.
    facts.length = 0;
  }

  flush(): void {
    this.flushQueued = false;
    this.events.onBatchEnd?.();
    if (this.closed) return;
    this.core.flush(this.env.now());
    this.rearm();
  }

  stats() {
    return { ...this.core.stats(), state: this.state };
  }

  private afterInput(): void {
    if (!this.closed) this.rearm();
  }

  /**
   * Keep one timer entry at or before the core's next deadline. A deadline that moved later
   * leaves the early entry in place (it fires, finds nothing due, and re-arms), so the common
   * case — every ack pushing the RTO out — costs nothing.
   */
  private rearm(): void {
    const at = this.core.nextDeadline();
    if (at === 0) return;
    if (this.timer !== undefined && !this.timer.cancelled && this.timerAt <= at) return;
    this.env.timers.cancel(this.timer);
    this.timerAt = at;
    this.timer = this.env.timers.schedule(at, () => this.onTimer());
  }

  private onTimer(): void {
    this.timer = undefined;
    if (this.closed) return;
    this.core.handleTimeout(this.env.now());
    if (this.core.facts.length > 0) this.drainFacts();
    if (!this.closed) {
      this.rearm();
      this.env.needFlush(this);
    }
  }

  /**
   * The chart reached a final state: the core stops (sending the ack it owes after a clean end) and
   * the owner hears how it ended.
   */
  private onFinished(outcome: Outcome, code: string | undefined, clean: boolean): void {
    if (this.host !== undefined) leaveHost(this.env, this.host);
    this.host = undefined;
    this.core.close(this.env.now(), clean);
    this.env.timers.cancel(this.timer);
    this.timer = undefined;
    this.env.released(this);
    this.events.onClose?.(outcome, code);
  }
}

/**
 * The inspection observer the actor gets: the user's, and, when tracing, one that records every
 * snapshot with the event that produced it.
 */
function traceStates(
  user: InspectObserver | undefined,
  trace: ConnectionTrace | undefined,
  now: () => number,
  conn: Connection,
): InspectObserver | undefined {
  if (trace === undefined) return user;
  const forward =
    user === undefined ? undefined : typeof user === 'function' ? user : (e: InspectionEvent) => user.next?.(e);
  let last: unknown;
  return (e: InspectionEvent) => {
    forward?.(e);
    if (e.type !== '@xstate.snapshot') return;
    const value = (e.snapshot as { value?: unknown }).value;
    // Delayed and eventless transitions re-enter states; record changes only.
    const key = JSON.stringify(value);
    if (key === last) return;
    last = key;
    trace({
      kind: 'state',
      at: now(),
      value,
      event: e.event.type,
      remoteAddress: conn.remoteAddress,
      remotePort: conn.remotePort,
      localId: conn.core === undefined ? 0 : conn.core.recvId,
    });
  };
}
