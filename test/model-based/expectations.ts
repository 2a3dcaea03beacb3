/**
 * What each generated path must end in, written by hand from BEP 29, libutp and docs/design.md —
 * never computed from the chart. The replay (connection-driver.ts) checks the real connection
 * against this table, so a wrong chart target fails here even though the real actor and the model
 * (which share the chart) agree with each other.
 *
 * Packets are those the connection under test ("local") sends, in order, as
 *   `TYPE[(re)] seq=<e> ack=<e>[ len=<payload bytes>][ sack=<e>,<e>…]`
 * where an expression is `I`, `P`, `I+n`, `P-n` (16-bit, wrapping) or a plain number:
 *   I = local's initial seq_nr: the seq of its SYN (initiator) or of its SYN-ACK (acceptor);
 *   P = the peer's initial seq_nr: the seq of its SYN-ACK (local initiated) or of its SYN.
 * Handshake numbering as libutp (docs/design.md): the SYN (seq I) takes a seq, the initiator's data
 * starts at I+1; the SYN-ACK is a STATE carrying the acceptor's next seq without consuming it, so
 * the acceptor's data starts at P (or I, when local accepts) and the initiator acks it as P-1. A
 * STATE carries the next seq the sender will use; a FIN takes one seq after the data; RST and a
 * FIN sent once on destroy() carry the next seq too. `len` is stated for packets with payload;
 * `sack` lists the seqs a SACK extension reports, and a packet without it must carry none.
 * `(re)` marks a retransmission (a resend from the send buffer; SYN retries are not marked).
 */

export type StateValue = string | { connected: { send: string; receive: string; liveness: string } };

export interface PathExpectation {
  /** The chart's state value at the end of the path (a final state name, or where a live connection rests). */
  readonly state: StateValue;
  /** The error code the connection ended with (`net`'s names), if it ended with one. */
  readonly code?: string;
  /** Payload bytes delivered to local's application. */
  readonly delivered: number;
  readonly sent: readonly string[];
}

const connected = (send: string, receive: string) => ({ connected: { send, receive, liveness: 'alive' } });

// Packets that recur.
const SYN = 'SYN seq=I ack=0';
/** The initiator acks the SYN-ACK at once: no data yet, so the STATE carries the first data seq. */
const ACK_SYNACK = 'STATE seq=I+1 ack=P-1';
/** Local accepted: the SYN-ACK acks the peer's SYN and carries local's first data seq. */
const SYN_ACK = 'STATE seq=I ack=P';

/**
 * Keyed by the path's name (its events, as `connection-model.ts` labels them). The driver's payload
 * sizes: the peer writes 300 bytes for PEER_ACKED and 200 (then its FIN) for FIN_RECEIVED; local
 * writes 500 for RTO_FIRED. Data of the peer's stream lies at P, P+1…; its FIN after the data.
 */
export const PATH_EXPECTATIONS: Readonly<Record<string, PathExpectation>> = {
  // A connection destroyed before it did anything: nothing to tell anyone.
  'DESTROY()': { state: 'destroyed', delivered: 0, sent: [] },

  // Nobody listens: the peer's endpoint answers the SYN with a RST.
  'CONNECT → RESET_RECEIVED': { state: 'refused', code: 'ECONNREFUSED', delivered: 0, sent: [SYN] },
  // Destroyed while the SYN is out: the half-open peer is told with a RST (nothing to FIN, nothing heard: ack 0).
  'CONNECT → DESTROY()': { state: 'destroyed', delivered: 0, sent: [SYN, 'RST seq=I+1 ack=0'] },
  // The connect timeout (set below the first SYN retry) expires: one SYN, no retry.
  'CONNECT → after(connectTimeout)': { state: 'timedOut', code: 'ETIMEDOUT', delivered: 0, sent: [SYN] },
  // Three retries (synRetries 3), each the same SYN (libutp reuses the seq), then give up.
  'CONNECT → after(synRto) → after(synRto) → after(synRto) → after(synRto)': {
    state: 'timedOut',
    code: 'ETIMEDOUT',
    delivered: 0,
    sent: [SYN, SYN, SYN, SYN],
  },
  // Ending while connecting: the FIN waits for the handshake and then carries the ack of the SYN-ACK.
  'CONNECT → END → SYN_ACKED': {
    state: connected('finSent', 'open'),
    delivered: 0,
    sent: [SYN, 'FIN seq=I+1 ack=P-1'],
  },

  // Accepted: the peer's first DATA (300 bytes at P+1, after its SYN at P) is acked at once.
  'SYN → PEER_ACKED': {
    state: connected('open', 'open'),
    delivered: 300,
    sent: [SYN_ACK, 'STATE seq=I ack=P+1'],
  },
  // The peer vanishes with a RST before it heard our SYN-ACK.
  'SYN → RESET_RECEIVED': { state: 'reset', code: 'ECONNRESET', delivered: 0, sent: [SYN_ACK] },
  // end() before the initiator was heard from: the FIN waits (an acceptor sends nothing but SYN-ACKs till then).
  'SYN → END': { state: 'synReceived', delivered: 0, sent: [SYN_ACK] },
  // destroy(): one best-effort FIN at our first seq (nothing was sent before it).
  'SYN → DESTROY()': { state: 'destroyed', delivered: 0, sent: [SYN_ACK, 'FIN seq=I ack=P'] },
  'SYN → DESTROY(ECONNRESET)': {
    state: 'destroyed',
    code: 'ECONNRESET',
    delivered: 0,
    sent: [SYN_ACK, 'RST seq=I ack=P'],
  },
  // The initiator is never heard from again: the half-open bound expires; no data waits, so no SYN-ACK resend.
  'SYN → after(halfOpenTimeout)': { state: 'timedOut', code: 'ETIMEDOUT', delivered: 0, sent: [SYN_ACK] },

  'CONNECT → SYN_ACKED → RESET_RECEIVED': {
    state: 'reset',
    code: 'ECONNRESET',
    delivered: 0,
    sent: [SYN, ACK_SYNACK],
  },
  // 500 bytes into a dead path: two tail-loss probes (at 2·SRTT, then twice that) resend the
  // packet, then three timeouts under 1 s (160, 320, 640 ms on this 20 ms path), which do not
  // count, then the first counted RTO does; the connection survives a counted timeout (libutp dies
  // at the 5th consecutive one).
  'CONNECT → SYN_ACKED → RTO_FIRED(1)': {
    state: connected('open', 'open'),
    delivered: 0,
    sent: [
      SYN,
      ACK_SYNACK,
      'DATA seq=I+1 ack=P-1 len=500',
      ...Array.from({ length: 2 + 3 + 1 }, () => 'DATA(re) seq=I+1 ack=P-1 len=500'),
    ],
  },
  // The probes, the uncounted timeouts and four counted RTO resends; the fifth ends it, sending nothing.
  'CONNECT → SYN_ACKED → RTO_FIRED(5)': {
    state: 'timedOut',
    code: 'ETIMEDOUT',
    delivered: 0,
    sent: [
      SYN,
      ACK_SYNACK,
      'DATA seq=I+1 ack=P-1 len=500',
      ...Array.from({ length: 2 + 3 + 4 }, () => 'DATA(re) seq=I+1 ack=P-1 len=500'),
    ],
  },
  'CONNECT → SYN_ACKED → DESTROY()': {
    state: 'destroyed',
    delivered: 0,
    sent: [SYN, ACK_SYNACK, 'FIN seq=I+1 ack=P-1'],
  },
  'CONNECT → SYN_ACKED → DESTROY(ECONNRESET)': {
    state: 'destroyed',
    code: 'ECONNRESET',
    delivered: 0,
    sent: [SYN, ACK_SYNACK, 'RST seq=I+1 ack=P-1'],
  },
  // Quiet for a keepalive interval: one keepalive, a plain STATE (same numbers as the last ack).
  'CONNECT → SYN_ACKED → after(livenessTick)': {
    state: connected('open', 'open'),
    delivered: 0,
    sent: [SYN, ACK_SYNACK, ACK_SYNACK],
  },
  // The peer goes silent: one keepalive when nothing went out for keepaliveMs (3 s), then the
  // idle timeout (4 s) ends it at the first liveness tick past it.
  'CONNECT → SYN_ACKED → PEER_IDLE': {
    state: 'timedOut',
    code: 'ETIMEDOUT',
    delivered: 0,
    sent: [SYN, ACK_SYNACK, ACK_SYNACK],
  },
  // Half-close: our FIN (no data: at I+1) is acked; our receive side stays open.
  'CONNECT → SYN_ACKED → END → FIN_ACKED': {
    state: connected('finAcked', 'open'),
    delivered: 0,
    sent: [SYN, ACK_SYNACK, 'FIN seq=I+1 ack=P-1'],
  },
  // The peer's 200 bytes (at P) are overtaken by its FIN (at P+1): the FIN is SACKed and waits;
  // once the data arrives both are acked and the stream ends. Our send side stays open.
  'CONNECT → SYN_ACKED → FIN_RECEIVED → EOF_DELIVERED': {
    state: connected('open', 'ended'),
    delivered: 200,
    sent: [SYN, ACK_SYNACK, 'STATE seq=I+1 ack=P-1 sack=P+1', 'STATE seq=I+1 ack=P+1'],
  },
  // Both FINs cross: ours (I+1) is held on the way, the peer's (P+1) overtakes its data (P). Our
  // FIN took a seq, so later STATEs carry I+2; the ack completing the close goes out before we stop.
  'CONNECT → SYN_ACKED → END → FIN_RECEIVED → FIN_ACKED → EOF_DELIVERED': {
    state: 'closed',
    delivered: 200,
    // Once both FINs are out every ack goes twice: seq_nr past our FIN (libutp drops one that is
    // not) and at our FIN (libtorrent drops one past it).
    sent: [
      SYN,
      ACK_SYNACK,
      'FIN seq=I+1 ack=P-1',
      'STATE seq=I+2 ack=P-1 sack=P+1',
      'STATE seq=I+1 ack=P-1 sack=P+1',
      'STATE seq=I+2 ack=P+1',
      'STATE seq=I+1 ack=P+1',
    ],
  },
  // Our FIN is lost, the peer's data and FIN arrive; the peer never acks our FIN (libtorrent deletes
  // its socket once its own FIN is acked). The tail-loss probe and two timeouts resend it; after the
  // second timeout nothing is missing on either side: a clean close.
  'CONNECT → SYN_ACKED → END → FIN_RECEIVED → EOF_DELIVERED → RTO_FIRED(2, FIN only)': {
    state: 'closed',
    delivered: 200,
    sent: [
      SYN,
      ACK_SYNACK,
      'FIN seq=I+1 ack=P-1',
      'STATE seq=I+2 ack=P-1 sack=P+1',
      'STATE seq=I+1 ack=P-1 sack=P+1',
      'FIN(re) seq=I+1 ack=P-1',
      'STATE seq=I+2 ack=P+1',
      'STATE seq=I+1 ack=P+1',
      // The second tail-loss probe, three uncounted timeouts, then two counted: the second ends it.
      ...Array.from({ length: 1 + 3 + 2 }, () => 'FIN(re) seq=I+1 ack=P+1'),
    ],
  },
};

/** A 16-bit value from `I`, `P`, `I+n`, `P-n` or a number. */
export function evalSeq(expr: string, I: number, P: number): number {
  const m = /^(?:([IP])(?:([+-])(\d+))?|(\d+))$/.exec(expr);
  if (m === null) throw new Error(`bad seq expression: ${expr}`);
  if (m[4] !== undefined) return Number(m[4]) & 0xffff;
  const base = m[1] === 'I' ? I : P;
  const n = m[3] === undefined ? 0 : Number(m[3]) * (m[2] === '-' ? -1 : 1);
  return (base + n) & 0xffff;
}

/** A packet as the checks compare it: concrete numbers, same field order as the table. */
export interface WirePacket {
  readonly type: string;
  readonly retransmit: boolean;
  readonly seqNr: number;
  readonly ackNr: number;
  readonly payload: number;
  readonly sack?: readonly number[] | undefined;
}

export function renderPacket(p: WirePacket): string {
  let s = `${p.type.replace('RESET', 'RST')}${p.retransmit ? '(re)' : ''} seq=${p.seqNr} ack=${p.ackNr}`;
  if (p.payload > 0) s += ` len=${p.payload}`;
  if (p.sack !== undefined && p.sack.length > 0) s += ` sack=${p.sack.join(',')}`;
  return s;
}

/** A table entry with I and P substituted, in `renderPacket`'s form. */
export function concretePacket(spec: string, I: number, P: number): string {
  const m = /^([A-Z]+(?:\(re\))?) seq=(\S+) ack=(\S+)(?: len=(\d+))?(?: sack=(\S+))?$/.exec(spec);
  if (m === null) throw new Error(`bad packet in the table: ${spec}`);
  let s = `${m[1]} seq=${evalSeq(m[2] as string, I, P)} ack=${evalSeq(m[3] as string, I, P)}`;
  if (m[4] !== undefined) s += ` len=${m[4]}`;
  if (m[5] !== undefined)
    s += ` sack=${(m[5] as string)
      .split(',')
      .map((e) => evalSeq(e, I, P))
      .join(',')}`;
  return s;
}
