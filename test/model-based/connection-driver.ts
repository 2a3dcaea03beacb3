/**
 * Drives a real connection pair in the simulator through a path of the lifecycle chart: for each
 * step the real world is made to produce the step's event (the peer connects, ends, destroys, the
 * path goes silent, the clock runs past a delay…), then the real Connection's actor must be in the
 * model's state, must have taken the model's transitions, and must have sent the packets the step
 * implies.
 *
 * "local" hosts the connection under test, "remote" its peer. Packets can be cut per direction at
 * delivery time (so a datagram already in flight is lost too), and the remote→local link can hold
 * a datagram back to deliver it out of order.
 */
import { expect } from 'vitest';
import type { TraceRecord } from '../../src/core/connection.js';
import { Connection, type ConnectionConfig, type StateTraceRecord } from '../../src/machines/connection.js';
import { SimNetwork } from '../../src/sim/network.js';
import { createSimEndpoint, type SimEndpoint } from '../../src/sim/utp.js';
import {
  type GeneratedPath,
  type ModelEvent,
  type ModelSnapshot,
  microstepRecorder,
  RETRANSMIT_LIMIT,
  type StepEffect,
} from './connection-model.js';
import { concretePacket, PATH_EXPECTATIONS, renderPacket } from './expectations.js';

const LOCAL = 'local';
const REMOTE = 'remote';
const LOCAL_PORT = 1000;
const REMOTE_PORT = 2000;
const DELAY_US = 10_000;
/** How long the remote→local link holds back a datagram it reorders. */
const HOLD_US = 50_000;
/** Longest a single step may take in simulated time (five backed-off RTOs are ~93 s). */
const STEP_LIMIT_US = 300_000_000;

const SYN_RTO_MS = 1000;
/**
 * Retransmission timeouts under 1 s that precede the first counted one on this path (RTT 2·DELAY_US:
 * SRTT 20 ms from the handshake, RTTVAR 10 ms): the RTO is max(50 ms, SRTT + 4·RTTVAR, 4·2·SRTT) =
 * 160 ms, doubling to 320 and 640 ms before 1,280 ms counts.
 */
const UNCOUNTED_RTOS = (() => {
  const srtt = 2 * DELAY_US;
  const tlp = Math.max(2 * srtt, 10_000);
  let rto = Math.max(50_000, srtt + 4 * (srtt / 2), 4 * tlp);
  let n = 0;
  for (; rto < 1_000_000; rto *= 2) n++;
  return n;
})();
/** Receive ids the endpoints draw when they connect (pinned, so a run depends on the seed only for data). */
const LOCAL_ID = 0x4c4c;
const REMOTE_ID = 0x5252;

/**
 * Initial seq_nrs the two sides draw: I for the connection under test, P for its peer (see
 * expectations.ts). The default puts both at the wrap, so I+1 and P+2 are 0.
 */
export interface Numbering {
  readonly I: number;
  readonly P: number;
}
export const WRAP_NUMBERING: Numbering = { I: 0xffff, P: 0xfffe };
const QUIET_MS = 600_000;

const isAfter = (e: ModelEvent, delay: string) => e.type.startsWith(`xstate.after.${delay}.`);
/** The liveness self-loop: a real connection takes it every tick, so only its presence is checked. */
const isLivenessLoop = (key: string) =>
  key.includes('xstate.after.livenessTick') && key.endsWith('-> utp.connected.liveness.alive');

/** Lifecycle settings under which the real world can produce this path's delays in this order. */
export function configFor(gp: GeneratedPath): ConnectionConfig {
  const { events } = gp;
  const timeoutAt = events.findIndex((e) => isAfter(e, 'connectTimeout'));
  let connectTimeoutMs = 60_000;
  if (timeoutAt >= 0) {
    // Let the k SYN retries the path takes first happen, and time out halfway to the next one.
    const k = events.slice(0, timeoutAt).filter((e) => isAfter(e, 'synRto')).length;
    connectTimeoutMs = SYN_RTO_MS * (2 ** k - 1) + (SYN_RTO_MS * 2 ** k) / 2;
  }
  const ticks = events.some((e) => isAfter(e, 'livenessTick'));
  const idle = events.some((e) => e.type === 'PEER_IDLE');
  // The half-open bound is keepalive + connect timeout: keep it short when the path takes it.
  const halfOpen = events.some((e) => isAfter(e, 'halfOpenTimeout'));
  if (halfOpen) {
    return { synRtoMs: SYN_RTO_MS, synRetries: 3, connectTimeoutMs: 2_000, keepaliveMs: 2_000, idleTimeoutMs: 0 };
  }
  return {
    synRtoMs: SYN_RTO_MS,
    synRetries: 3,
    connectTimeoutMs,
    // Quiet unless the path wants ticks: a stray keepalive or tick would be a step the path lacks.
    keepaliveMs: ticks ? 2000 : idle ? 3000 : QUIET_MS,
    idleTimeoutMs: idle ? 4000 : 0,
  };
}

/** Whether the real world can produce this step (it can produce every step of this chart). */
export function feasible(_before: ModelSnapshot, _event: ModelEvent): boolean {
  return true;
}

function packetName(r: TraceRecord): string {
  const name = r.type.replace('RESET', 'RST');
  return r.retransmit ? `${name}(re)` : name;
}

/** The datagrams the connection under test must send while one step happens. */
export function expectedOut(before: ModelSnapshot, event: ModelEvent, after: ModelSnapshot): string[] {
  switch (event.type) {
    case 'CONNECT':
      return ['SYN'];
    case 'SYN': // the SYN-ACK
      return ['STATE'];
    case 'DESTROY':
      if (before.matches('idle')) return [];
      // A half-open initiator has nothing to FIN; it resets whatever the code.
      if (before.matches('connecting')) return ['RST'];
      return event.code !== undefined ? ['RST'] : ['FIN'];
    case 'END':
      // The FIN waits for the handshake to complete on both sides.
      return before.matches('connecting') || before.matches('synReceived') ? [] : ['FIN'];
    case 'SYN_ACKED':
      // The initiator acks the SYN-ACK at once; a FIN queued while connecting carries that ack instead.
      return after.matches({ connected: { send: 'finSent' } }) ? ['FIN'] : ['STATE'];
    case 'PEER_ACKED': // the ack of the peer's first DATA
      return ['STATE'];
    case 'FIN_RECEIVED':
    case 'EOF_DELIVERED':
      // Once both FINs are out, each ack goes twice: with seq_nr past our FIN (libutp's) and at it
      // (libtorrent's); see ConnectionCore.sendState.
      return before.matches({ connected: { send: 'open' } }) ? ['STATE'] : ['STATE', 'STATE'];
    case 'FIN_ACKED':
    case 'RESET_RECEIVED':
      return [];
    case 'RTO_FIRED': {
      // Only our FIN in flight, already resent by the tail-loss probe: each timeout resends it,
      // and the one that ends the connection (peer gone after its FIN) is no exception.
      // On this path's RTT the first timeouts are shorter than 1 s and do not count (see
      // ConnectionCore.onRto): each of them resends too, before the chart hears of the first one.
      if (event.finOnly === true) {
        // The first tail-loss probe went in an earlier step; the second comes now.
        return Array.from({ length: 1 + UNCOUNTED_RTOS + event.count }, () => 'FIN(re)');
      }
      // Two tail-loss probes (2·SRTT, then twice that) come first where the RTT is known (the
      // initiator measured the handshake; an acceptor has no sample yet, and its RTO is the 3 s
      // initial one, all counted). Then every RTO the connection survives retransmits; the fatal one
      // does not.
      const sampled = !before.matches('synReceived');
      const tailProbes = sampled ? ['DATA(re)', 'DATA(re)'] : [];
      const survived = (sampled ? UNCOUNTED_RTOS : 0) + Math.min(event.count, RETRANSMIT_LIMIT);
      return ['DATA', ...tailProbes, ...Array.from({ length: survived }, () => 'DATA(re)')];
    }
    default:
      if (isAfter(event, 'synRto')) return after.matches('timedOut') ? [] : ['SYN'];
      if (isAfter(event, 'livenessTick')) return ['STATE'];
      // Silent for idleTimeoutMs (4 s): a keepalive at 3 s (keepaliveMs), then PEER_IDLE at the tick past 4 s.
      if (event.type === 'PEER_IDLE') return ['STATE'];
      return [];
  }
}

/** A packet the connection under test must have received during the step, if one defines it. */
function expectedIn(event: ModelEvent): string | undefined {
  switch (event.type) {
    case 'SYN_ACKED':
      return 'STATE';
    case 'PEER_ACKED':
      return 'DATA';
    case 'RESET_RECEIVED':
      return 'RST';
    case 'FIN_RECEIVED':
      return 'FIN';
    case 'EOF_DELIVERED':
      return 'DATA';
    case 'FIN_ACKED':
      return 'STATE';
    default:
      return undefined;
  }
}

/** The comparable part of an effect: the liveness self-loop only counts as "present or not". */
function normalize(e: StepEffect) {
  return {
    transitions: e.transitions.filter((k) => !isLivenessLoop(k)),
    livenessLoop: e.transitions.some(isLivenessLoop),
  };
}

export class Harness {
  readonly net: SimNetwork;
  readonly local: SimEndpoint;
  readonly remote: SimEndpoint;
  conn: Connection | undefined;
  peer: Connection | undefined;
  /** Everything the connection under test sent and received, and its state changes, for failure reports. */
  readonly log: string[] = [];
  /** Transition keys the real actor was seen to take (and guarded events it refused). */
  readonly covered = new Set<string>();
  private out: TraceRecord[] = [];
  private in: TraceRecord[] = [];
  private states: StateTraceRecord[] = [];
  private readonly rec = microstepRecorder();
  private cutToLocal = false;
  /** The connection under test is an acceptor created at the SYN (Endpoint.acceptNow). */
  private acceptAtSyn = false;
  private cutToRemote = false;
  /** Datagrams to the remote this matches arrive `holdToRemoteUs` late (already in flight ones too). */
  private holdToRemote: ((buf: Uint8Array) => boolean) | undefined;
  private holdToRemoteUs = 0;
  /** The path's events after the one being produced (a step may have to prepare for a later one). */
  upcoming: readonly ModelEvent[] = [];
  /** 16-bit values each endpoint draws next (ids, initial seq_nrs), before the network's PRNG takes over. */
  private readonly localDraws: number[] = [];
  private readonly remoteDraws: number[] = [];
  /** Payload bytes delivered to the connection under test. */
  delivered = 0;

  constructor(
    readonly seed: number,
    readonly config: ConnectionConfig,
    readonly numbering: Numbering = WRAP_NUMBERING,
  ) {
    const net = new SimNetwork({ seed });
    this.net = net;
    net.setPath(LOCAL, REMOTE, { delayUs: DELAY_US });
    const drawFrom = (q: number[]) => () => {
      const v = q.shift();
      return v === undefined ? net.prng.next() : (v + 0.5) / 0x10000;
    };
    this.local = createSimEndpoint(net, LOCAL, LOCAL_PORT, {
      connection: config,
      trace: (r) => this.onTrace(r),
      random: drawFrom(this.localDraws),
    });
    // The peer is quiet too: no keepalives of its own crossing the steps.
    this.remote = createSimEndpoint(net, REMOTE, REMOTE_PORT, {
      connection: { ...config, idleTimeoutMs: 0 },
      random: drawFrom(this.remoteDraws),
    });
    const toLocal = this.local.endpoint;
    this.local.socket.onMessage((buf, from, port) => {
      if (this.cutToLocal) return;
      if (this.acceptAtSyn && this.conn === undefined && (buf[0] ?? 0) >> 4 === 4 /* ST_SYN */) {
        this.watch(toLocal.acceptNow(buf, from, port));
        return;
      }
      toLocal.handleDatagram(buf, from, port);
    });
    const toRemote = this.remote.endpoint;
    this.remote.socket.onMessage((buf, from, port) => {
      if (this.cutToRemote) return;
      if (this.holdToRemote?.(buf)) {
        if (this.holdToRemoteUs === Number.POSITIVE_INFINITY) return; // lost
        net.timers.schedule(net.now() + this.holdToRemoteUs, () => toRemote.handleDatagram(buf, from, port));
        return;
      }
      toRemote.handleDatagram(buf, from, port);
    });
  }

  private onTrace(r: TraceRecord | StateTraceRecord): void {
    if (r.kind === 'state') {
      this.states.push(r);
      this.log.push(`${r.at} state ${JSON.stringify(r.value)}`);
      return;
    }
    (r.dir === 'out' ? this.out : this.in).push(r);
    this.log.push(`${r.at} ${r.dir} ${packetName(r)} seq=${r.seqNr} ack=${r.ackNr} len=${r.length}`);
  }

  private watch(c: Connection): void {
    this.conn = c;
    c.events.onData = (p) => {
      this.delivered += p.length;
    };
    c.actor.system.inspect(this.rec.inspect);
  }

  private get c(): Connection {
    if (!this.conn) throw new Error('no connection under test yet');
    return this.conn;
  }

  private get p(): Connection {
    // The peer acceptor exists once our answer to its SYN-ACK reaches it (its SYN queue creates it then).
    if (!this.peer) this.runUntil('peer accepted', () => this.peer !== undefined);
    if (!this.peer) throw new Error('no peer connection');
    return this.peer;
  }

  private flush(): void {
    this.local.endpoint.flush();
    this.remote.endpoint.flush();
  }

  private runUntil(what: string, done: () => boolean): void {
    const r = this.net.run({ until: done, maxTimeUs: STEP_LIMIT_US });
    if (r.reason !== 'done') throw new Error(`${what}: network went ${r.reason} at ${r.now} µs`);
  }

  /** A connection built by hand, for the one state an endpoint never shows: idle. */
  private bareConnection(): Connection {
    const socket = this.local.socket;
    return new Connection(
      'initiator',
      REMOTE,
      REMOTE_PORT,
      {
        timers: this.net.timers,
        now: () => this.net.now(),
        random16: () => Math.floor(this.net.prng.next() * 0x10000),
        transmit: (buf, length, c) => socket.send(buf, 0, length, c.remotePort, c.remoteAddress),
        needFlush: (c) => c.flush(),
        released: () => {},
        trace: (r) => this.onTrace(r),
      },
      this.config,
    );
  }

  private partition(): void {
    this.cutToLocal = true;
    this.cutToRemote = true;
  }

  /** Make the real world produce `event`, then run until the real actor has done what the model did. */
  produce(before: ModelSnapshot, event: ModelEvent, want: StepEffect): void {
    const wanted = normalize(want);
    const reached = () => {
      const got = normalize(this.rec.peek());
      if (got.transitions.length < wanted.transitions.length) return false;
      if (wanted.livenessLoop && !got.livenessLoop) return false;
      return want.rejected.every((k) => this.rec.peek().rejected.includes(k));
    };
    const net = this.net;
    switch (event.type) {
      case 'CONNECT':
        // connect() draws the receive id, then the chart the initial seq_nr; an accepted SYN draws the seq_nr.
        this.localDraws.push(LOCAL_ID, this.numbering.I);
        this.remoteDraws.push(this.numbering.P);
        this.remote.endpoint.onConnection = (c) => {
          this.peer = c;
        };
        this.watch(this.local.endpoint.connect(REMOTE_PORT, REMOTE));
        // The SYN leaves synchronously; nothing runs, so the next step decides its fate.
        return;
      case 'SYN':
        this.remoteDraws.push(REMOTE_ID, this.numbering.P);
        this.localDraws.push(this.numbering.I);
        // The endpoint would answer from its SYN queue and create the connection only once the
        // initiator speaks again; the chart's half-open state needs the connection at the SYN.
        this.acceptAtSyn = true;
        this.local.endpoint.onConnection = () => {};
        this.peer = this.remote.endpoint.connect(LOCAL_PORT, LOCAL);
        this.runUntil('SYN', () => this.conn !== undefined);
        return;
      case 'DESTROY':
        if (before.matches('idle')) this.watch(this.bareConnection());
        this.c.destroy(event.code);
        this.flush();
        return;
      case 'END':
        this.c.end();
        this.flush();
        return;
      case 'RESET_RECEIVED':
        if (before.matches('connecting')) {
          // Nobody listens when the SYN lands: the remote endpoint answers RST (refused).
          this.remote.endpoint.onConnection = undefined;
        } else {
          this.p.destroy('ECONNRESET');
          this.flush();
        }
        break;
      case 'PEER_ACKED':
        // An initiator sends nothing after the SYN-ACK until it has data (as libutp).
        this.p.write(net.prng.bytes(300));
        this.flush();
        break;
      case 'RTO_FIRED':
        // Data in flight and nothing comes back: the core's RTO fires, again and again. With only
        // our FIN in flight (its first transmission already lost), no data is written.
        this.partition();
        if (event.finOnly !== true) this.c.write(net.prng.bytes(500));
        this.flush();
        break;
      case 'FIN_RECEIVED': {
        // The core raises EOF_DELIVERED together with FIN_RECEIVED when the FIN arrives in order.
        // To make them two steps the peer's DATA is held back on the link, so its FIN overtakes it.
        // When our FIN awaits its ack, the peer must send its FIN before ours reaches it (any packet
        // after would ack ours): our FIN is held back on the way, long enough for the peer's FIN to
        // arrive first and short enough for its ack to arrive before the held DATA.
        if (before.matches({ connected: { send: 'finSent' } })) {
          this.holdToRemote = (buf) => (buf[0] ?? 0) >> 4 === 1; // ST_FIN
          // Under 2·SRTT in all, so no tail-loss probe resends our FIN meanwhile.
          this.holdToRemoteUs = 15_000;
          // A later step needs our FIN never acked (the peer forgot us): it never arrives.
          if (this.upcoming.some((e) => e.type === 'RTO_FIRED' && e.finOnly === true)) {
            this.holdToRemoteUs = Number.POSITIVE_INFINITY;
          }
        }
        net.setLink(REMOTE, LOCAL, { delayUs: DELAY_US, delayNth: [[1, HOLD_US]] });
        // The peer (an acceptor) sends data only once it has heard from us.
        if (!this.p.connected) this.runUntil('peer connected', () => this.p.connected);
        this.p.write(net.prng.bytes(200));
        this.remote.endpoint.flush();
        this.p.end();
        this.remote.endpoint.flush();
        break;
      }
      case 'SYN_ACKED':
      case 'EOF_DELIVERED':
      case 'FIN_ACKED':
        // Already on its way: the network delivers it.
        break;
      default:
        if (isAfter(event, 'synRto') || isAfter(event, 'connectTimeout') || isAfter(event, 'halfOpenTimeout')) {
          // Nothing reaches the peer (or, for an acceptor, nothing comes back from the initiator).
          // Nothing reaches the peer: the SYN is retried until the chart gives up.
          this.partition();
        } else if (isAfter(event, 'livenessTick')) {
          // A keepalive interval of quiet: the tick sends a keepalive.
        } else if (event.type === 'PEER_IDLE') {
          // Peer gone: nothing comes back any more, and the core notices at a liveness tick.
          this.partition();
        } else {
          throw new Error(`no way to produce ${event.type}`);
        }
    }
    this.runUntil(event.type, reached);
  }

  /** The end of the path against the hand-written table (expectations.ts), not against the chart. */
  checkTable(name: string): void {
    const want = PATH_EXPECTATIONS[name];
    if (want === undefined) throw new Error(`no entry for this path in test/model-based/expectations.ts: ${name}`);
    const c = this.c;
    const { I, P } = this.numbering;
    expect(c.actor.getSnapshot().value, 'table: final state').toEqual(want.state);
    const outcomes = ['closed', 'reset', 'timedOut', 'refused', 'destroyed'];
    const final = typeof want.state === 'string' && outcomes.includes(want.state);
    expect({ outcome: c.outcome, code: c.code }, 'table: outcome and code').toEqual({
      outcome: final ? want.state : undefined,
      code: want.code,
    });
    expect(this.delivered, 'table: bytes delivered').toBe(want.delivered);
    expect(this.out.map(renderPacket), `table: packets sent (I=${I}, P=${P}: ${want.sent.join('; ')})`).toEqual(
      want.sent.map((spec) => concretePacket(spec, I, P)),
    );
  }

  /** Run one step and check the real connection against the model. */
  step(index: number, before: ModelSnapshot, event: ModelEvent, after: ModelSnapshot, want: StepEffect): void {
    const outBefore = this.out.length;
    const inBefore = this.in.length;
    this.produce(before, event, want);
    const c = this.c;
    const snap = c.actor.getSnapshot();
    const label = `step ${index} (${event.type})`;
    expect(snap.value, `${label}: state`).toEqual(after.value);
    const { synAttempts, synRtoMs, endRequested, code } = snap.context;
    expect({ synAttempts, synRtoMs, endRequested, code }, `${label}: context`).toEqual({
      synAttempts: after.context.synAttempts,
      synRtoMs: after.context.synRtoMs,
      endRequested: after.context.endRequested,
      code: after.context.code,
    });
    if (index === 1 && (event.type === 'CONNECT' || event.type === 'SYN')) {
      // The endpoint creates and starts the connection inside this step, before an inspector can
      // be attached; its state trace, subscribed before start, shows the step instead.
      expect(
        this.states.map((s) => s.value),
        `${label}: state trace`,
      ).toEqual([before.value, after.value]);
      this.rec.take();
      for (const k of want.transitions) this.covered.add(k);
    } else {
      const raw = this.rec.take();
      for (const k of [...raw.transitions, ...raw.rejected]) this.covered.add(k);
      for (const k of want.rejected) expect(raw.rejected, `${label}: events its guards refused`).toContain(k);
      const got = normalize(raw);
      const wanted = normalize(want);
      // A peer that stops talking is noticed at the first tick past idleTimeoutMs; the ticks before
      // it loop on `alive`, which a model step of PEER_IDLE does not show.
      if (event.type === 'PEER_IDLE' && !wanted.livenessLoop) got.livenessLoop = false;
      expect(got, `${label}: transitions taken`).toEqual(wanted);
    }
    const sent = this.out.slice(outBefore).map(packetName);
    const expected = expectedOut(before, event, after);
    // Our FIN was lost on the way (a FIN-only RTO comes later): while the peer's data is held back,
    // the tail-loss probe (2·SRTT) resends it.
    if (event.type === 'EOF_DELIVERED' && this.holdToRemoteUs === Number.POSITIVE_INFINITY) expected.unshift('FIN(re)');
    expect(sent, `${label}: packets sent`).toEqual(expected);
    const inType = expectedIn(event);
    if (inType !== undefined) {
      const received = this.in.slice(inBefore).map(packetName);
      expect(received, `${label}: packets received`).toContain(inType);
    }
    if (after.status === 'done') {
      expect({ outcome: c.outcome, code: c.code }, `${label}: outcome`).toEqual({
        outcome: after.value,
        code: after.context.code,
      });
    }
    if (after.matches('connected')) expect(c.connected, `${label}: onConnect`).toBe(true);
    if (after.matches({ connected: { receive: 'ended' } })) expect(c.readEnded, `${label}: onEnd`).toBe(true);
  }
}

/** Replays a generated path on a fresh simulated pair; throws with the seed and the packet log on failure. */
export function replay(gp: GeneratedPath, seed: number, numbering: Numbering = WRAP_NUMBERING): Harness {
  const h = new Harness(seed, configFor(gp), numbering);
  try {
    gp.events.forEach((event, i) => {
      h.upcoming = gp.events.slice(i + 1);
      h.step(
        i + 1,
        gp.snapshots[i] as ModelSnapshot,
        event,
        gp.snapshots[i + 1] as ModelSnapshot,
        gp.effects[i + 1] as StepEffect,
      );
    });
    h.checkTable(gp.name);
  } catch (err) {
    if (err instanceof Error) {
      err.message = `seed ${seed}, path ${gp.name}\n${err.message}\n--- local trace ---\n${h.log.join('\n')}`;
    }
    throw err;
  }
  return h;
}
