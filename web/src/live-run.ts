/**
 * A live run: two utpx endpoints (A connects and sends, B accepts) on the seeded simulator, and
 * optionally a NewReno bulk flow through the same bottleneck. Everything is recorded as trace
 * events: packets and state changes through the endpoints' `trace` option, link drops through
 * ObservedNetwork, and `metrics_updated` sampled from `Connection.stats()` at the end of every
 * simulated instant in which the connection sent or received something (only when a value moved).
 *
 * The clock is the simulator's virtual one: `advance` runs it on by a slice (one animation frame's
 * worth), so the page plays at any speed and a test can run to the end at once.
 */
import { Crc32, crc32 } from './crc32.js';
import {
  type Connection,
  type ConnectionTraceRecord,
  connKey,
  createSimEndpoint,
  deriveSeed,
  type LinkStats,
  type MetricsEventData,
  metricsFrom,
  Prng,
  RenoFlow,
  type RenoStats,
  recordToEvent,
  SIM_START_US,
  type SimEndpoint,
  type TraceEvent,
  type TraceHeader,
  TYPE_NAMES,
  traceHeader,
} from './engine.js';
import { type LinkDrop, ObservedNetwork } from './observed-network.js';
import type { Run } from './run.js';
import { linkOptions, type Scenario } from './scenario.js';

export const HOST_A = '10.0.0.1';
export const HOST_B = '10.0.0.2';
export const PORT_A = 40000;
export const PORT_B = 6881;
/** A run that has not finished after this much simulated time is stopped (a dead path, 100 % loss). */
export const MAX_SIM_US = 300_000_000;
const WRITE_CHUNK = 64 * 1024;

export type ConnectionStats = ReturnType<Connection['stats']>;

/** One endpoint and what it did. */
export class LiveSide {
  conn: Connection | undefined;
  /** Bytes handed to the connection. */
  written = 0;
  /** Bytes delivered to the application, and their checksum. */
  delivered = 0;
  readonly received = new Crc32();
  /** Sent something or heard something in the current instant: sample its metrics. */
  active = false;
  lastOut: TraceEvent | undefined;
  private lastMetrics = '';

  constructor(
    readonly label: 'A' | 'B',
    readonly endpoint: SimEndpoint,
    /** What this side sends, and its checksum. */
    readonly payload: Uint8Array,
    /** What this side must receive: its length and checksum (the peer's payload). */
    readonly expectBytes: number,
    readonly expectCrc: string,
  ) {}

  get address(): string {
    return this.endpoint.socket.address;
  }

  get port(): number {
    return this.endpoint.socket.port;
  }

  get connKey(): string | undefined {
    const c = this.conn;
    return c === undefined ? undefined : connKey(c.remoteAddress, c.remotePort, c.recvId);
  }

  get complete(): boolean {
    return this.delivered === this.expectBytes && this.received.hex() === this.expectCrc;
  }

  stats(): ConnectionStats | undefined {
    return this.conn?.stats();
  }

  /** The metrics sample when something moved since the last one. */
  sample(): MetricsEventData | undefined {
    const s = this.conn?.stats();
    if (s === undefined) return undefined;
    const data = metricsFrom(s, this.delivered, this.written);

    const key = JSON.stringify(data);
    if (key === this.lastMetrics) return undefined;
    this.lastMetrics = key;
    return data;
  }
}

export class LiveRun implements Run {
  readonly kind = 'live';
  readonly header: TraceHeader;
  readonly events: TraceEvent[] = [];
  readonly scenario: Scenario;
  readonly a: LiveSide;
  readonly b: LiveSide;
  private readonly net: ObservedNetwork;
  private readonly reno: RenoFlow | undefined;
  private packetEvents = 0;
  private finished = false;
  private renoFinal: RenoStats | undefined;

  constructor(scenario: Scenario) {
    this.scenario = scenario;
    this.header = traceHeader(SIM_START_US, { title: describe(scenario), vantagePoint: 'sim' });
    const net = new ObservedNetwork({ seed: scenario.seed });
    this.net = net;
    net.setPath(HOST_A, HOST_B, linkOptions(scenario));
    const payloadA = new Prng(deriveSeed(scenario.seed, 'payload A')).bytes(scenario.bytesAtoB);
    const payloadB = new Prng(deriveSeed(scenario.seed, 'payload B')).bytes(scenario.bytesBtoA);
    const epA = createSimEndpoint(net, HOST_A, PORT_A, { trace: (r) => this.record(this.a, r) });
    const epB = createSimEndpoint(net, HOST_B, PORT_B, { trace: (r) => this.record(this.b, r) });
    this.a = new LiveSide('A', epA, payloadA, payloadB.length, crc32(payloadB));
    this.b = new LiveSide('B', epB, payloadB, payloadA.length, crc32(payloadA));
    net.onDrop = (d) => this.dropped(d);
    // Registered after the endpoints', so it runs once their batched acks are out.
    net.onIdle(() => this.sampleMetrics());

    epB.endpoint.onConnection = (conn) => {
      const side = this.b;
      side.conn = conn;
      this.attach(side, conn);
    };
    const conn = epA.endpoint.connect(PORT_B, HOST_B);
    this.a.conn = conn;
    this.attach(this.a, conn);

    if (scenario.reno) {
      this.reno = new RenoFlow({ net, from: HOST_A, to: HOST_B });
      this.reno.start();
    }
  }

  get now(): number {
    return this.net.now() - SIM_START_US;
  }

  get done(): boolean {
    return this.finished;
  }

  /** Both connections reached a final state (or the run hit its time limit). */
  get settled(): boolean {
    const a = this.a.conn;
    const b = this.b.conn;
    return a?.closed === true && (b === undefined || b.closed);
  }

  linkStats(from: 'A' | 'B'): LinkStats {
    return from === 'A' ? this.net.linkStats(HOST_A, HOST_B) : this.net.linkStats(HOST_B, HOST_A);
  }

  renoStats(): RenoStats | undefined {
    return this.renoFinal ?? this.reno?.stats();
  }

  advance(us: number): void {
    this.runFor(us, () => this.settled);
  }

  step(): void {
    const before = this.packetEvents;
    this.runFor(MAX_SIM_US, () => this.settled || this.packetEvents > before);
  }

  runToEnd(): void {
    this.runFor(MAX_SIM_US, () => this.settled);
  }

  private runFor(us: number, until: () => boolean): void {
    if (this.finished) return;
    const left = MAX_SIM_US - this.now;
    const r = this.net.run({ until, maxTimeUs: Math.max(0, Math.min(us, left)) });
    if (this.settled || r.reason === 'quiet' || this.now >= MAX_SIM_US) this.finish();
  }

  private finish(): void {
    this.finished = true;
    if (this.reno) {
      this.renoFinal = this.reno.stats();
      this.reno.stop();
    }
  }

  /** Writes the side's payload with backpressure; ends once it is all written and the peer has ended. */
  private attach(side: LiveSide, conn: Connection): void {
    let offset = 0;
    let peerEnded = false;
    let ended = false;
    const maybeEnd = () => {
      // A ends as soon as its data is queued; B, like an echo server, when A's FIN has arrived.
      if (ended || offset < side.payload.length || (side.label === 'B' && !peerEnded)) return;
      ended = true;
      conn.end();
    };
    const pump = () => {
      while (offset < side.payload.length) {
        const n = Math.min(WRITE_CHUNK, side.payload.length - offset);
        const ok = conn.write(side.payload.subarray(offset, offset + n));
        offset += n;
        side.written = offset;
        if (!ok) return;
      }
      maybeEnd();
    };
    conn.events = {
      onData: (p) => {
        side.delivered += p.length;
        side.received.update(p);
      },
      onEnd: () => {
        peerEnded = true;
        maybeEnd();
      },
      onDrain: pump,
    };
    pump();
  }

  private record(side: LiveSide, r: ConnectionTraceRecord): void {
    const e = recordToEvent(r, SIM_START_US);
    this.events.push(e);
    side.active = true;
    if (e.name === 'packet_sent') side.lastOut = e;
    if (e.name !== 'state_updated') this.packetEvents++;
  }

  private dropped(d: LinkDrop): void {
    const side =
      d.fromPort === PORT_A && d.from === HOST_A
        ? this.a
        : d.fromPort === PORT_B && d.from === HOST_B
          ? this.b
          : undefined;
    if (side === undefined) return; // the Reno flow's: counted in link stats, not part of the uTP trace
    const buf = d.datagram;
    const type = TYPE_NAMES[(buf[0] ?? 0) >> 4] ?? 'DATA';
    const seq = ((buf[16] ?? 0) << 8) | (buf[17] ?? 0);
    const last = side.lastOut;
    // The packet_sent record is written just before the datagram goes out, so it is the last one.
    const conn =
      last !== undefined && last.name === 'packet_sent' && last.data.type === type && last.data.seq === seq
        ? last.conn
        : (side.connKey ?? `${d.to}:${d.toPort}/0`);
    this.events.push({
      time: this.now,
      name: 'packet_dropped',
      conn,
      data: { type, seq, size: buf.length, reason: d.reason, to: `${d.to}:${d.toPort}` },
    });
    this.packetEvents++;
  }

  private sampleMetrics(): void {
    for (const side of [this.a, this.b]) {
      if (!side.active) continue;
      side.active = false;
      const data = side.sample();
      const conn = side.connKey;
      if (data !== undefined && conn !== undefined) {
        this.events.push({ time: this.now, name: 'metrics_updated', conn, data });
      }
    }
  }
}

/** One line for the trace header and the page: the scenario in a person's units. */
export function describe(s: Scenario): string {
  const parts = [
    `utpx playground: A→B ${bytesLabel(s.bytesAtoB)}`,
    s.bytesBtoA > 0 ? `B→A ${bytesLabel(s.bytesBtoA)}` : '',
    `delay ${s.delayMs} ms`,
    s.jitterMs > 0 ? `jitter ${s.jitterMs} ms` : '',
    `loss ${s.lossPct} %`,
    s.duplicatePct > 0 ? `dup ${s.duplicatePct} %` : '',
    s.reorderPct > 0 ? `reorder ${s.reorderPct} %` : '',
    `${s.bandwidthMbps} Mbit/s`,
    `queue ${s.queuePackets} pkts`,
    s.reno ? 'with Reno' : '',
    `seed ${s.seed}`,
  ];
  return parts.filter((p) => p !== '').join(', ');
}

/** 1048576 → "1 MiB", 1536 → "1.5 KiB", 100 → "100 B". */
export function bytesLabel(n: number): string {
  if (n >= 1 << 20) return `${+(n / (1 << 20)).toFixed(2)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(2)} KiB`;
  return `${n} B`;
}
