/**
 * The generated paths as scenarios under single-datagram faults. A path's application actions
 * (connect, write, end…) are replayed on a fresh simulated pair while exactly one datagram of one
 * direction is lost, duplicated, or held back until the next datagram in that direction has
 * arrived (reordered behind it); both sides must still end where the fault-free run ends, with
 * every byte delivered intact. Intermediate steps may differ (retransmissions, retries), so only
 * outcomes, states, byte counts and hashes are compared.
 *
 * Which paths make sense, and what each one's outcome is, is written by hand below; paths that
 * already model total loss (timeouts), or end with a packet that is sent once by design (RST, the
 * FIN of destroy()), are listed in EXCLUDED with the reason.
 */
import { createHash } from 'node:crypto';
import type { Connection, ConnectionTraceRecord } from '../../src/machines/connection.js';
import { SimNetwork } from '../../src/sim/network.js';
import { createSimEndpoint, type SimEndpoint } from '../../src/sim/utp.js';
import type { StateValue } from './expectations.js';

export const LOCAL = 'local';
export const REMOTE = 'remote';
const LOCAL_PORT = 1000;
const REMOTE_PORT = 2000;
const DELAY_US = 10_000;
/** A held datagram whose successor never comes is let go after this long. */
const HOLD_CAP_US = 2_000_000;
/** After the outcome is reached, the pair runs on this long: nothing may change any more. */
const SETTLE_US = 3_000_000;
/** Longest a scenario may take to reach its outcome (a lost SYN costs 1 s, a lost FIN's RTO about as much). */
const LIMIT_US = 60_000_000;

/** Bytes each side writes: seven packets of up to 980 payload bytes (packet size pinned at 1000). */
const LOCAL_BYTES = 6500;
const REMOTE_BYTES = 5900;

const CONFIG = {
  packetSize: 1000,
  mtuFloor: 1000,
  mtuCeiling: 1000,
  synRtoMs: 1000,
  synRetries: 3,
  connectTimeoutMs: 60_000,
  // No keepalives or idle ticks: the datagrams exchanged are the path's own.
  keepaliveMs: 600_000,
  idleTimeoutMs: 0,
};

/** Initial seq_nrs (as the driver's WRAP_NUMBERING): both streams cross 65535 → 0. */
const LOCAL_SEQ = 0xffff;
const REMOTE_SEQ = 0xfffe;

type When = 'never' | 'at-once' | 'on-connect';

interface SideScript {
  /** When the side writes its bytes (`at-once`: as soon as it has the connection, before it is connected). */
  readonly write: When;
  readonly end: When;
}

interface SideOutcome {
  readonly state: StateValue;
  readonly code?: string;
}

export interface Scenario {
  /** The generated path this scenario replays (its name in connection-model.ts's labels). */
  readonly path: string;
  /** Role of the connection under test. */
  readonly local: 'initiator' | 'acceptor';
  /** Whether the remote endpoint accepts connections (no: it answers a SYN with a RST). */
  readonly listen: boolean;
  readonly localScript: SideScript;
  readonly remoteScript: SideScript;
  readonly expect: { readonly local: SideOutcome; readonly remote: SideOutcome | 'no connection' };
}

const connected = (send: string, receive: string) => ({ connected: { send, receive, liveness: 'alive' } });
const QUIET: SideScript = { write: 'never', end: 'never' };

export const SCENARIOS: readonly Scenario[] = [
  {
    // Refused: the SYN or the RST lost, doubled or late; the SYN retry is refused in turn.
    path: 'CONNECT → RESET_RECEIVED',
    local: 'initiator',
    listen: false,
    localScript: QUIET,
    remoteScript: QUIET,
    expect: { local: { state: 'refused', code: 'ECONNREFUSED' }, remote: 'no connection' },
  },
  {
    // Both write at once: the acceptor's data waits until it hears from the initiator.
    path: 'SYN → PEER_ACKED',
    local: 'acceptor',
    listen: true,
    localScript: { write: 'at-once', end: 'never' },
    remoteScript: { write: 'at-once', end: 'never' },
    expect: { local: { state: connected('open', 'open') }, remote: { state: connected('open', 'open') } },
  },
  {
    // The acceptor writes and ends before it heard from the initiator: half-closed once all is through.
    path: 'SYN → END',
    local: 'acceptor',
    listen: true,
    localScript: { write: 'at-once', end: 'at-once' },
    remoteScript: { write: 'at-once', end: 'never' },
    expect: { local: { state: connected('finAcked', 'open') }, remote: { state: connected('open', 'ended') } },
  },
  {
    // The initiator writes and ends while connecting.
    path: 'CONNECT → END → SYN_ACKED',
    local: 'initiator',
    listen: true,
    localScript: { write: 'at-once', end: 'at-once' },
    remoteScript: { write: 'at-once', end: 'never' },
    expect: { local: { state: connected('finAcked', 'open') }, remote: { state: connected('open', 'ended') } },
  },
  {
    // The initiator writes and ends once connected; its receive side stays open.
    path: 'CONNECT → SYN_ACKED → END → FIN_ACKED',
    local: 'initiator',
    listen: true,
    localScript: { write: 'on-connect', end: 'on-connect' },
    remoteScript: { write: 'at-once', end: 'never' },
    expect: { local: { state: connected('finAcked', 'open') }, remote: { state: connected('open', 'ended') } },
  },
  {
    // The peer writes and ends; local writes and keeps its side open.
    path: 'CONNECT → SYN_ACKED → FIN_RECEIVED → EOF_DELIVERED',
    local: 'initiator',
    listen: true,
    localScript: { write: 'on-connect', end: 'never' },
    remoteScript: { write: 'at-once', end: 'at-once' },
    expect: { local: { state: connected('open', 'ended') }, remote: { state: connected('finAcked', 'open') } },
  },
  {
    // Both write and end: a clean close on both sides.
    path: 'CONNECT → SYN_ACKED → END → FIN_RECEIVED → FIN_ACKED → EOF_DELIVERED',
    local: 'initiator',
    listen: true,
    localScript: { write: 'on-connect', end: 'on-connect' },
    remoteScript: { write: 'at-once', end: 'at-once' },
    expect: { local: { state: 'closed' }, remote: { state: 'closed' } },
  },
];

/** Generated paths not replayed under faults, and why. */
export const EXCLUDED: Readonly<Record<string, string>> = {
  'DESTROY()': 'no datagram is exchanged',
  'CONNECT → DESTROY()':
    'ends by a RST, sent once and never acknowledged (BEP 29): losing it changes the peer by design',
  'CONNECT → after(connectTimeout)': 'ends by a timeout over a dead path: already total loss',
  'CONNECT → after(synRto) → after(synRto) → after(synRto) → after(synRto)': 'every SYN lost: already total loss',
  'SYN → RESET_RECEIVED': "ends by the peer's RST, sent once by design",
  'SYN → DESTROY()': "ends by destroy()'s FIN, sent once without retransmission by design",
  'SYN → DESTROY(ECONNRESET)': 'ends by a RST, sent once by design',
  'SYN → after(halfOpenTimeout)': 'the initiator is never heard again: already total loss',
  'CONNECT → SYN_ACKED → RESET_RECEIVED': "ends by the peer's RST, sent once by design",
  'CONNECT → SYN_ACKED → RTO_FIRED(1)': 'a partitioned path: already total loss',
  'CONNECT → SYN_ACKED → RTO_FIRED(5)': 'a partitioned path: already total loss',
  'CONNECT → SYN_ACKED → DESTROY()': "ends by destroy()'s FIN, sent once by design",
  'CONNECT → SYN_ACKED → DESTROY(ECONNRESET)': 'ends by a RST, sent once by design',
  'CONNECT → SYN_ACKED → after(livenessTick)':
    'its only datagram after the handshake is a keepalive, which asks for no answer: the handshake is covered by the paths above',
  'CONNECT → SYN_ACKED → PEER_IDLE': 'the peer goes silent: already total loss',
  'CONNECT → SYN_ACKED → END → FIN_RECEIVED → EOF_DELIVERED → RTO_FIRED(2, FIN only)':
    'our FIN is lost on purpose and never acked (a peer that forgot us): already the fault; the clean-close paths cover each datagram',
};

export type Direction = 'local→remote' | 'remote→local';
export type Fate = 'lost' | 'duplicated' | 'reordered';

export interface Fault {
  readonly direction: Direction;
  /** 1-based: the Nth datagram offered to that direction's link. */
  readonly nth: number;
  readonly fate: Fate;
}

export interface ScenarioResult {
  /** Datagrams offered to each direction's link, over the whole run. */
  readonly datagrams: Record<Direction, number>;
  /** Whether the fault happened: the datagram existed (and, for `reordered`, its successor overtook it). */
  readonly faultApplied: boolean;
  readonly reason: string;
  /** One line per problem found; empty when the run matched the scenario's outcome. */
  readonly problems: string[];
  readonly summary: string;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

class SideSink {
  bytes = 0;
  /** Bytes delivered when the end of the stream was reported, or −1. */
  bytesAtEnd = -1;
  private readonly hash = createHash('sha256');
  add(p: Uint8Array): void {
    this.bytes += p.length;
    this.hash.update(p);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}

/**
 * Wraps a socket's handler so that the Nth datagram arriving is held until the next one has
 * arrived (then delivered right after it), or until HOLD_CAP_US passed. With a constant delay and
 * no other fault, the Nth arrival is the Nth datagram sent.
 */
function holdNth(net: SimNetwork, ep: SimEndpoint, nth: number): { overtaken: () => boolean } {
  let count = 0;
  let held: { buf: Uint8Array; from: string; port: number } | undefined;
  let overtaken = false;
  const deliver = (buf: Uint8Array, from: string, port: number) => ep.endpoint.handleDatagram(buf, from, port);
  const release = () => {
    const h = held;
    held = undefined;
    if (h !== undefined && !ep.socket.closed) deliver(h.buf, h.from, h.port);
  };
  ep.socket.onMessage((buf, from, port) => {
    count++;
    if (count === nth) {
      held = { buf, from, port };
      net.timers.schedule(net.now() + HOLD_CAP_US, release);
      return;
    }
    deliver(buf, from, port);
    if (count === nth + 1 && held !== undefined) {
      overtaken = true;
      release();
    }
  });
  return { overtaken: () => overtaken };
}

const stateKey = (v: unknown) => JSON.stringify(v);

/** Runs one scenario, with at most one fault, and reports how it ended. */
export function runScenario(sc: Scenario, seed: number, fault?: Fault): ScenarioResult {
  const net = new SimNetwork({ seed });
  const linkFor = (d: Direction) => (d === 'local→remote' ? [LOCAL, REMOTE] : [REMOTE, LOCAL]) as [string, string];
  for (const d of ['local→remote', 'remote→local'] as const) {
    const [from, to] = linkFor(d);
    const f = fault?.direction === d ? fault : undefined;
    net.setLink(from, to, {
      delayUs: DELAY_US,
      ...(f?.fate === 'lost' ? { dropNth: [f.nth] } : {}),
      ...(f?.fate === 'duplicated' ? { duplicateNth: [f.nth] } : {}),
    });
  }
  // Pinned draws: connect() draws the receive id and then the initial seq_nr, accept the seq_nr.
  const draws = (values: number[]) => () => {
    const v = values.shift();
    return v === undefined ? net.prng.next() : (v + 0.5) / 0x10000;
  };
  const localDraws = sc.local === 'initiator' ? [0x4c4c, LOCAL_SEQ] : [LOCAL_SEQ];
  const remoteDraws = sc.local === 'initiator' ? [REMOTE_SEQ] : [0x5252, REMOTE_SEQ];
  const log: string[] = [];
  const trace = (side: string) => (r: ConnectionTraceRecord) => {
    if (r.kind === 'packet') {
      const sack = r.sack ? ` sack=${r.sack.join(',')}` : '';
      log.push(
        `${r.at} ${side} ${r.dir} ${r.type}${r.retransmit ? '(re)' : ''} seq=${r.seqNr} ack=${r.ackNr} len=${r.payload}${sack}`,
      );
    } else log.push(`${r.at} ${side} state ${JSON.stringify(r.value)}`);
  };
  const local = createSimEndpoint(net, LOCAL, LOCAL_PORT, {
    connection: CONFIG,
    random: draws(localDraws),
    trace: trace('local '),
  });
  const remote = createSimEndpoint(net, REMOTE, REMOTE_PORT, {
    connection: CONFIG,
    random: draws(remoteDraws),
    trace: trace('remote'),
  });
  let hold: { overtaken: () => boolean } | undefined;
  if (fault?.fate === 'reordered') {
    hold = holdNth(net, fault.direction === 'local→remote' ? remote : local, fault.nth);
  }

  const localData = net.prng.bytes(LOCAL_BYTES);
  const remoteData = net.prng.bytes(REMOTE_BYTES);
  const atLocal = new SideSink();
  const atRemote = new SideSink();
  let localConn: Connection | undefined;
  let remoteConn: Connection | undefined;

  const script = (c: Connection, s: SideScript, data: Uint8Array, sink: SideSink) => {
    const act = (when: When) => {
      if (s.write === when) c.write(data);
      if (s.end === when) c.end();
    };
    c.events.onData = (p) => sink.add(p);
    c.events.onEnd = () => {
      sink.bytesAtEnd = sink.bytes;
    };
    c.events.onConnect = () => act('on-connect');
    act('at-once');
  };
  // Each side writes its own data and collects what the other wrote.
  const setUp = (c: Connection, side: 'local' | 'remote') => {
    if (side === 'local') {
      localConn = c;
      script(c, sc.localScript, localData, atLocal);
    } else {
      remoteConn = c;
      script(c, sc.remoteScript, remoteData, atRemote);
    }
  };
  const initiator = sc.local === 'initiator' ? 'local' : 'remote';
  const acceptor = sc.local === 'initiator' ? 'remote' : 'local';
  const endpointOf = (side: 'local' | 'remote') => (side === 'local' ? local : remote);
  if (sc.listen) endpointOf(acceptor).endpoint.onConnection = (c) => setUp(c, acceptor);
  const to = acceptor === 'local' ? ([LOCAL_PORT, LOCAL] as const) : ([REMOTE_PORT, REMOTE] as const);
  setUp(endpointOf(initiator).endpoint.connect(to[0], to[1]), initiator);

  // What each side must end with: state, outcome and code, the other side's bytes, everything acked.
  const wantLocalBytes =
    sc.expect.remote === 'no connection' ? 0 : sc.remoteScript.write === 'never' ? 0 : REMOTE_BYTES;
  const wantRemoteBytes = sc.localScript.write === 'never' ? 0 : LOCAL_BYTES;
  const sideProblems = (name: string, c: Connection | undefined, want: SideOutcome, sink: SideSink, bytes: number) => {
    const out: string[] = [];
    if (c === undefined) return [`${name}: no connection`];
    const value = c.actor.getSnapshot().value;
    if (stateKey(value) !== stateKey(want.state))
      out.push(`${name}: state ${stateKey(value)}, want ${stateKey(want.state)}`);
    const finalState = typeof want.state === 'string' && want.state !== 'synReceived';
    const wantOutcome = finalState ? want.state : undefined;
    if (c.outcome !== wantOutcome || c.code !== want.code) {
      out.push(`${name}: outcome ${c.outcome}/${c.code}, want ${wantOutcome}/${want.code}`);
    }
    if (sink.bytes !== bytes) out.push(`${name}: ${sink.bytes} bytes delivered, want ${bytes}`);
    const ended = c.readEnded;
    const wantEnded = want.state === 'closed' || stateKey(want.state).includes('"receive":"ended"');
    if (ended !== wantEnded)
      out.push(`${name}: read side ${ended ? 'ended' : 'open'}, want ${wantEnded ? 'ended' : 'open'}`);
    if (ended && sink.bytesAtEnd !== bytes)
      out.push(`${name}: the end came after ${sink.bytesAtEnd} bytes, want ${bytes}`);
    if (!c.closed && !c.core.allAcked) out.push(`${name}: not everything it wrote was acked`);
    return out;
  };
  const problems = () => [
    ...sideProblems('local', localConn, sc.expect.local, atLocal, wantLocalBytes),
    ...(sc.expect.remote === 'no connection'
      ? remoteConn === undefined
        ? []
        : ['remote: a connection was accepted']
      : sideProblems('remote', remoteConn, sc.expect.remote, atRemote, wantRemoteBytes)),
  ];
  const r = net.run({ until: () => problems().length === 0, maxTimeUs: LIMIT_US });
  const reachedAt = net.now();
  net.run({ maxTimeUs: SETTLE_US });
  const found = problems();
  if (r.reason !== 'done') found.unshift(`outcome not reached within ${LIMIT_US / 1e6} s (${r.reason})`);
  // Intact: the bytes are the bytes written, in order, once.
  if (wantLocalBytes > 0 && atLocal.bytes === wantLocalBytes && atLocal.digest() !== sha256(remoteData)) {
    found.push('local: delivered bytes differ from what the remote wrote');
  }
  if (wantRemoteBytes > 0 && atRemote.bytes === wantRemoteBytes && atRemote.digest() !== sha256(localData)) {
    found.push('remote: delivered bytes differ from what local wrote');
  }
  const lr = net.linkStats(LOCAL, REMOTE).sent;
  const rl = net.linkStats(REMOTE, LOCAL).sent;
  const datagrams = { 'local→remote': lr, 'remote→local': rl };
  let faultApplied = true;
  if (fault !== undefined) {
    faultApplied = fault.nth <= datagrams[fault.direction] && (hold === undefined || hold.overtaken());
  }
  return {
    datagrams,
    faultApplied,
    reason: `${r.reason} at +${((reachedAt - 1_000_000) / 1000).toFixed(1)} ms`,
    problems: found,
    summary: log.join('\n'),
  };
}
