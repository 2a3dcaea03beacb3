/**
 * What the views draw, derived from trace events alone (so a live run and a replay of its export
 * draw the same thing). Consumes the event list incrementally: `update` reads only what was added
 * since the last call.
 *
 * A "side" is one connection's vantage point, keyed by its conn key without the local id (the
 * initial "idle" state record has id 0, later records the real one). In a playground trace the two
 * sides are A and B; a CLI trace has one.
 */
import type { MetricsEventData, PacketEventData, TraceEvent } from './engine.js';

export interface StateChange {
  readonly time: number;
  readonly state: string;
  readonly trigger: string;
}

export interface SeqPoint {
  readonly time: number;
  /** seq_nr relative to the side's first DATA packet (which is 1), unwrapped past 65535. */
  readonly seq: number;
  readonly flight: Flight;
}

export interface AckPoint {
  readonly time: number;
  /** ack_nr on the same scale as SeqPoint.seq. */
  readonly ack: number;
  /** SACKed packets beyond it, same scale. */
  readonly sack: readonly number[] | undefined;
}

export interface MetricsPoint {
  readonly time: number;
  readonly data: MetricsEventData;
}

export interface SideModel {
  readonly index: number;
  /** "address:port" of the peer, as in the conn key. */
  readonly peer: string;
  states: StateChange[];
  /** Latest state string ('' before the first state record). */
  state: string;
  /** DATA packets sent: the time–sequence graph's points. */
  readonly dataSent: SeqPoint[];
  /** Acks received once this side had sent data: the time–sequence graph's ack line. */
  readonly acks: AckPoint[];
  readonly metrics: MetricsPoint[];
  packetsSent: number;
  packetsReceived: number;
  retransmits: number;
  drops: number;
  /** seq_nr of the first DATA packet minus one, once known. */
  seqBase: number | undefined;
}

/** One datagram from one side to the other, as the ladder draws it. */
export interface Flight {
  readonly from: number;
  readonly type: PacketEventData['type'];
  readonly seq: number;
  readonly ack: number;
  readonly size: number;
  readonly payload: number;
  readonly retransmit: boolean;
  readonly sack: readonly number[] | undefined;
  /** Send time; undefined when only the receiving side was traced. */
  readonly sent: number | undefined;
  received: number | undefined;
  /** Why the network dropped it. */
  lost: string | undefined;
  /** A second copy made by the network's duplication. */
  readonly duplicate: boolean;
}

/** A line for the event log: what just happened, in words. */
export interface Note {
  readonly time: number;
  /** Side index, −1 for the peer of a one-sided trace. */
  readonly side: number;
  readonly kind: 'state' | 'drop' | 'resend' | 'control' | 'sack';
  readonly text: string;
}

export function peerOf(conn: string): string {
  const slash = conn.lastIndexOf('/');
  return slash < 0 ? conn : conn.slice(0, slash);
}

function flightKey(type: string, seq: number, size: number): string {
  return `${type}|${seq}|${size}`;
}

export class TraceModel {
  readonly sides: SideModel[] = [];
  readonly flights: Flight[] = [];
  readonly notes: Note[] = [];
  /** Events consumed so far. */
  consumed = 0;
  /** Latest event time seen. */
  lastTime = 0;
  private readonly byPeer = new Map<string, SideModel>();
  /** Per sending side: flights sent and not yet received or dropped, by type|seq|size, oldest first. */
  private readonly pending: Map<string, Flight[]>[] = [];
  /** Per sending side: the last flight of each key, for the network's duplicates. */
  private readonly lastOfKey: Map<string, Flight>[] = [];
  /** Per side: whether the last ack it received carried a SACK (the log notes only the first of a run). */
  private readonly sacking: boolean[] = [];
  /** Per side: the newest DATA seq_nr sent, raw and unwrapped. */
  private readonly newest: { raw: number; value: number }[] = [];

  /** Reads the events added since the last call; true when anything changed. */
  update(events: readonly TraceEvent[]): boolean {
    const start = this.consumed;
    for (let i = start; i < events.length; i++) this.add(events[i] as TraceEvent);
    this.consumed = events.length;
    return events.length > start;
  }

  side(conn: string): SideModel {
    const peer = peerOf(conn);
    let s = this.byPeer.get(peer);
    if (s === undefined) {
      s = {
        index: this.sides.length,
        peer,
        states: [],
        state: '',
        dataSent: [],
        acks: [],
        metrics: [],
        packetsSent: 0,
        packetsReceived: 0,
        retransmits: 0,
        drops: 0,
        seqBase: undefined,
      };
      this.byPeer.set(peer, s);
      this.sides.push(s);
      this.pending.push(new Map());
      this.lastOfKey.push(new Map());
      this.newest.push({ raw: 0, value: 0 });
      this.sacking.push(false);
    }
    return s;
  }

  /** The other side of a two-sided trace, or undefined. */
  otherSide(s: SideModel): SideModel | undefined {
    if (this.sides.length !== 2) return undefined;
    return this.sides[1 - s.index];
  }

  /** "A"/"B" in a two-sided trace (by first appearance), else the peer. */
  label(s: SideModel): string {
    return this.sides.length <= 2 ? (s.index === 0 ? 'A' : 'B') : s.peer;
  }

  /** The address:port of the side itself: in a two-sided trace, the other side's peer. */
  localAddress(s: SideModel): string | undefined {
    return this.otherSide(s)?.peer;
  }

  private add(e: TraceEvent): void {
    if (e.time > this.lastTime) this.lastTime = e.time;
    const s = this.side(e.conn);
    switch (e.name) {
      case 'state_updated':
        s.states.push({ time: e.time, state: e.data.state, trigger: e.data.trigger });
        s.state = e.data.state;
        // An accepted SYN reaches the endpoint before the connection (and its trace) exists: the
        // acceptor's first state change, triggered by it, marks its arrival.
        if (e.data.trigger === 'SYN') this.synArrived(s, e.time);
        this.note(e.time, s, 'state', `${e.data.state.split(',').join(' · ')}  ← ${e.data.trigger}`);
        break;
      case 'metrics_updated':
        s.metrics.push({ time: e.time, data: e.data });
        break;
      case 'packet_sent':
        this.sent(s, e.time, e.data);
        break;
      case 'packet_received':
        this.received(s, e.time, e.data);
        break;
      case 'packet_dropped': {
        s.drops++;
        const q = this.pending[s.index]?.get(flightKey(e.data.type, e.data.seq, e.data.size));
        // The drop is reported right after its packet_sent: the newest pending flight of that key.
        const f = q?.pop();
        if (f !== undefined) f.lost = e.data.reason;
        this.note(e.time, s, 'drop', `${e.data.type} ${e.data.seq} dropped by the network (${e.data.reason})`);
        break;
      }
    }
  }

  private sent(s: SideModel, time: number, d: PacketEventData): void {
    s.packetsSent++;
    if (d.retransmit) {
      s.retransmits++;
      this.note(time, s, 'resend', `resends ${d.type} ${d.seq}`);
    } else if (d.type === 'SYN' || d.type === 'FIN' || d.type === 'RESET') {
      this.note(time, s, 'control', `sends ${d.type} seq ${d.seq}`);
    }
    const f: Flight = { ...this.flightOf(s.index, d), sent: time };
    this.flights.push(f);
    const key = flightKey(d.type, d.seq, d.size);
    const pending = this.pending[s.index] as Map<string, Flight[]>;
    const q = pending.get(key);
    if (q === undefined) pending.set(key, [f]);
    else q.push(f);
    (this.lastOfKey[s.index] as Map<string, Flight>).set(key, f);
    if (d.type === 'DATA') {
      if (s.seqBase === undefined) {
        s.seqBase = (d.seq - 1) & 0xffff;
        this.newest[s.index] = { raw: s.seqBase, value: 0 };
      }
      s.dataSent.push({ time, seq: this.unwrap(s, d.seq), flight: f });
    }
  }

  private received(s: SideModel, time: number, d: PacketEventData): void {
    s.packetsReceived++;
    const from = this.otherSide(s);
    if (from !== undefined) {
      const key = flightKey(d.type, d.seq, d.size);
      const q = this.pending[from.index]?.get(key);
      // Same type, seq and size: the oldest such flight still travelling; its ack_nr breaks ties.
      const i =
        q === undefined
          ? -1
          : Math.max(
              0,
              q.findIndex((f) => f.ack === d.ack),
            );
      if (q !== undefined && q.length > 0) {
        const f = q.splice(i, 1)[0] as Flight;
        f.received = time;
      } else {
        const orig = this.lastOfKey[from.index]?.get(key);
        this.flights.push({ ...this.flightOf(from.index, d), sent: orig?.sent, received: time, duplicate: true });
      }
    } else {
      this.flights.push({ ...this.flightOf(-1, d), received: time });
    }
    if (s.seqBase !== undefined) {
      // An ack trails the newest seq_nr sent by less than half the seq space: unwrap it against that.
      const n = this.newest[s.index] as { raw: number; value: number };
      const ack = n.value - signed16(n.raw - d.ack);
      s.acks.push({ time, ack, sack: d.sack?.map((q) => ack + signed16(q - d.ack)) });
    }
    const sacks = d.sack !== undefined && d.sack.length > 0;
    if (sacks && !this.sacking[s.index]) {
      const list = d.sack as readonly number[];
      const shown = list.length > 4 ? `${list.slice(0, 4).join(', ')}, …` : list.join(', ');
      this.note(time, s, 'sack', `ack ${d.ack} with SACK: ${(d.ack + 1) & 0xffff} missing, has ${shown}`);
    }
    this.sacking[s.index] = sacks;
  }

  private note(time: number, s: SideModel, kind: Note['kind'], text: string): void {
    this.notes.push({ time, side: s.index, kind, text });
  }

  private synArrived(s: SideModel, time: number): void {
    const from = this.otherSide(s);
    if (from === undefined) return;
    for (const [key, q] of this.pending[from.index] as Map<string, Flight[]>) {
      if (!key.startsWith('SYN|') || q.length === 0) continue;
      (q.shift() as Flight).received = time;
      return;
    }
  }

  private flightOf(from: number, d: PacketEventData): Flight {
    return {
      from,
      type: d.type,
      seq: d.seq,
      ack: d.ack,
      size: d.size,
      payload: d.payload,
      retransmit: d.retransmit === true,
      sack: d.sack,
      sent: undefined,
      received: undefined,
      lost: undefined,
      duplicate: false,
    };
  }

  /** Unwraps a 16-bit seq_nr against the side's newest one (DATA seq_nrs move by < 32768 at a time). */
  private unwrap(s: SideModel, raw: number): number {
    const n = this.newest[s.index] as { raw: number; value: number };
    const delta = signed16(raw - n.raw);
    const v = n.value + delta;
    if (delta > 0) this.newest[s.index] = { raw, value: v };
    return v;
  }
}

/** A 16-bit difference as a signed number in [−32768, 32767]. */
function signed16(x: number): number {
  return ((x & 0xffff) << 16) >> 16;
}
