/**
 * The uTP connection lifecycle as an XState v5 statechart — the one owner of the lifecycle.
 *
 * The chart holds names and plain data only. Its context is configuration and counters; it never
 * touches the protocol core. What it wants done it emits as an effect (`actor.on(type, …)`), and the
 * glue (src/machines/connection.ts) carries each effect out on the core: send the SYN, accept a SYN,
 * queue the FIN, send a RST, check liveness, and finally close. The core, in turn, reports what it
 * saw as events: SYN_ACKED, PEER_ACKED, FIN_RECEIVED, EOF_DELIVERED, FIN_ACKED, RESET_RECEIVED,
 * RTO_FIRED and PEER_IDLE. Per-packet work (data, acks, retransmissions, LEDBAT) never passes
 * through here.
 *
 * So the chart runs alone, with no core at all: give it a SimulatedClock and send it events
 * (test/unit/machines/chart.test.ts does).
 *
 * Final states say how the connection ended: closed, reset, timedOut, refused or destroyed; the
 * output adds the error code and whether the end was clean (nothing lost either way).
 */
import { and, assign, emit, setup, stateIn } from 'xstate';
import type { SynAnswered } from '../core/connection.js';

export type Outcome = 'closed' | 'reset' | 'timedOut' | 'refused' | 'destroyed';

/** Lifecycle settings: plain numbers, in milliseconds as XState's delays are. */
export interface LifecycleConfig {
  /** First SYN retransmission timeout, ms (doubles on every retry). */
  synRtoMs: number;
  /** SYN retransmissions before giving up (libutp gives up after 2 timeouts). */
  synRetries: number;
  /** Hard bound on connecting, whatever the retries (ethereum/trin let retries run past it). */
  connectTimeoutMs: number;
  /** Send a keepalive after this long without sending anything (libutp KEEPALIVE_INTERVAL 29 s). */
  keepaliveMs: number;
  /**
   * Time out after this long without hearing from the peer; 0 turns it off. Keepalives are not
   * answered, so a quiet peer is heard from only at its own keepalive interval (29 s for libutp):
   * keep this well above that.
   */
  idleTimeoutMs: number;
  /** Consecutive retransmission timeouts survived; the next one ends the connection (libutp: 4). */
  maxRetransmits: number;
}

export const DEFAULT_LIFECYCLE: LifecycleConfig = {
  synRtoMs: 1000,
  synRetries: 3,
  connectTimeoutMs: 10_000,
  keepaliveMs: 29_000,
  // Five minutes of silence: far past libutp's 29 s keepalives, and past BitTorrent's 2-minute
  // keep-alive messages (libtorrent's uTP sends no keepalives of its own, so an idle libtorrent
  // peer is heard only through its application).
  idleTimeoutMs: 300_000,
  maxRetransmits: 4,
};

export interface ConnectionInput {
  config: LifecycleConfig;
}

export interface ConnectionContext {
  readonly config: LifecycleConfig;
  synRtoMs: number;
  synAttempts: number;
  endRequested: boolean;
  /** Error code the connection ended with, as `net` names them. */
  code: string | undefined;
  /** Set on entering a final state. */
  outcome: Outcome | undefined;
}

/** How the connection ended: what the machine's output and its `finished` effect carry. */
export interface ConnectionOutput {
  outcome: Outcome;
  code: string | undefined;
  /** Nothing was lost either way: a close, or a destroy() without an error. */
  clean: boolean;
}

export type ConnectionEvent =
  | { type: 'CONNECT' }
  /**
   * An accepted SYN. `initialSeq` and `answered`: the endpoint already sent the SYN-ACK from its SYN
   * queue, with that seq_nr (otherwise the core answers and draws the seq_nr).
   */
  | { type: 'SYN'; packet: Uint8Array; initialSeq?: number; answered?: SynAnswered }
  | { type: 'END' }
  | { type: 'DESTROY'; code?: string | undefined }
  | { type: 'SYN_ACKED' }
  | { type: 'PEER_ACKED' }
  | { type: 'FIN_RECEIVED' }
  | { type: 'EOF_DELIVERED' }
  | { type: 'FIN_ACKED' }
  | { type: 'RESET_RECEIVED' }
  | { type: 'RTO_FIRED'; count: number; finOnly?: boolean }
  /** Nothing heard from the peer for idleTimeoutMs (the core's answer to a `livenessTick`). */
  | { type: 'PEER_IDLE' };

/** What the chart asks of its owner; the glue carries each out on the core or the application. */
export type ConnectionEffect =
  | { type: 'sendSyn' }
  | { type: 'acceptSyn'; packet: Uint8Array; initialSeq: number | undefined; answered: SynAnswered | undefined }
  | { type: 'queueFin' }
  | { type: 'sendFinOnce' }
  | { type: 'sendReset' }
  /** Time to send a keepalive if nothing went out for keepaliveMs, and to check idleTimeoutMs. */
  | { type: 'livenessTick' }
  | { type: 'connected' }
  | { type: 'readEnded' }
  | ({ type: 'finished' } & ConnectionOutput);

const LIVENESS_FLOOR_MS = 10;

function isClean(outcome: Outcome, code: string | undefined): boolean {
  return outcome === 'closed' || (outcome === 'destroyed' && code === undefined);
}

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
    output: {} as ConnectionOutput,
    emitted: {} as ConnectionEffect,
  },
  actions: {
    countSyn: assign({ synAttempts: ({ context }) => context.synAttempts + 1 }),
    sendSyn: emit({ type: 'sendSyn' }),
    backoffSyn: assign({ synRtoMs: ({ context }) => context.synRtoMs * 2 }),
    acceptSyn: emit(({ event }) => {
      const syn = event as Extract<ConnectionEvent, { type: 'SYN' }>;
      return { type: 'acceptSyn', packet: syn.packet, initialSeq: syn.initialSeq, answered: syn.answered } as const;
    }),
    requestEnd: assign({ endRequested: true }),
    queueFin: emit({ type: 'queueFin' }),
    sendFinOnce: emit({ type: 'sendFinOnce' }),
    sendReset: emit({ type: 'sendReset' }),
    livenessTick: emit({ type: 'livenessTick' }),
    notifyConnected: emit({ type: 'connected' }),
    notifyReadEnd: emit({ type: 'readEnded' }),
    /** The one failure action: record the error code the connection ends with. */
    fail: assign({ code: (_, params: { code: string }) => params.code }),
    recordDestroyCode: assign({
      code: ({ context, event }) => (event.type === 'DESTROY' ? event.code : context.code),
    }),
    /** Every final state's entry: record how it ended and tell the owner, who closes the core. */
    end: assign({ outcome: (_, params: { outcome: Outcome }) => params.outcome }),
    finished: emit(({ context }) => {
      const outcome = context.outcome ?? 'destroyed';
      return { type: 'finished', outcome, code: context.code, clean: isClean(outcome, context.code) } as const;
    }),
  },
  guards: {
    canRetrySyn: ({ context }) => context.synAttempts <= context.config.synRetries,
    endRequested: ({ context }) => context.endRequested,
    hasError: ({ event }) => event.type === 'DESTROY' && event.code !== undefined,
    retransmitLimitReached: ({ context, event }) =>
      event.type === 'RTO_FIRED' && event.count > context.config.maxRetransmits,
    /** libtorrent's own give-up point for a FIN: 2 resends (utp_fin_resends). */
    peerGoneAfterFin: ({ event }) => event.type === 'RTO_FIRED' && event.finOnly === true && event.count >= 2,
  },
  delays: {
    synRto: ({ context }) => context.synRtoMs,
    connectTimeout: ({ context }) => context.config.connectTimeoutMs,
    halfOpenTimeout: ({ context }) => context.config.keepaliveMs + context.config.connectTimeoutMs,
    livenessTick: ({ context }) => {
      const { keepaliveMs, idleTimeoutMs } = context.config;
      const tick = idleTimeoutMs > 0 ? Math.min(keepaliveMs, Math.ceil(idleTimeoutMs / 4)) : keepaliveMs;
      return Math.max(LIVENESS_FLOOR_MS, tick);
    },
  },
}).createMachine({
  id: 'utp',
  initial: 'idle',
  context: ({ input }) => ({
    config: input.config,
    synRtoMs: input.config.synRtoMs,
    synAttempts: 0,
    endRequested: false,
    code: undefined,
    outcome: undefined,
  }),
  output: ({ context }) => {
    const outcome = context.outcome ?? 'destroyed';
    return { outcome, code: context.code, clean: isClean(outcome, context.code) };
  },
  states: {
    idle: {
      on: {
        CONNECT: 'connecting',
        SYN: { target: 'synReceived', actions: 'acceptSyn' },
        DESTROY: { target: 'destroyed', actions: 'recordDestroyCode' },
      },
    },
    connecting: {
      initial: 'synSent',
      after: {
        connectTimeout: { target: 'timedOut', actions: { type: 'fail', params: { code: 'ETIMEDOUT' } } },
      },
      states: {
        synSent: {
          entry: ['countSyn', 'sendSyn'],
          after: {
            synRto: [
              { guard: 'canRetrySyn', target: 'synSent', reenter: true, actions: 'backoffSyn' },
              { target: '#utp.timedOut', actions: { type: 'fail', params: { code: 'ETIMEDOUT' } } },
            ],
          },
        },
      },
      on: {
        SYN_ACKED: { target: 'connected', actions: 'notifyConnected' },
        RESET_RECEIVED: { target: 'refused', actions: { type: 'fail', params: { code: 'ECONNREFUSED' } } },
        END: { actions: 'requestEnd' },
        DESTROY: { target: 'destroyed', actions: ['recordDestroyCode', 'sendReset'] },
      },
    },
    synReceived: {
      // The SYN-ACK went out; the initiator has not been heard from since its SYN. The core sends
      // nothing else until it is (no DATA or FIN: see ConnectionCore.flushData), so no retransmission
      // timeout can fire here; data the application writes waits.
      after: {
        // A quiet libutp initiator sends nothing until it has data or its keepalive is due, so
        // the bound waits for one keepalive interval plus the connect timeout before giving up.
        halfOpenTimeout: { target: 'timedOut', actions: { type: 'fail', params: { code: 'ETIMEDOUT' } } },
      },
      on: {
        PEER_ACKED: { target: 'connected', actions: 'notifyConnected' },
        RESET_RECEIVED: { target: 'reset', actions: { type: 'fail', params: { code: 'ECONNRESET' } } },
        END: { actions: ['requestEnd', 'queueFin'] },
        DESTROY: [
          { guard: 'hasError', target: 'destroyed', actions: ['recordDestroyCode', 'sendReset'] },
          // Nothing was sent, so a FIN at the stream's first seq_nr follows no packet that could be lost.
          { target: 'destroyed', actions: 'sendFinOnce' },
        ],
      },
    },
    connected: {
      type: 'parallel',
      states: {
        send: {
          initial: 'open',
          states: {
            open: {
              always: { guard: 'endRequested', target: 'finSent' },
              on: { END: 'finSent' },
            },
            finSent: {
              entry: 'queueFin',
              on: { FIN_ACKED: 'finAcked' },
            },
            finAcked: { type: 'final' },
          },
        },
        receive: {
          initial: 'open',
          states: {
            open: { on: { FIN_RECEIVED: 'finReceived' } },
            finReceived: { on: { EOF_DELIVERED: 'ended' } },
            ended: { type: 'final', entry: 'notifyReadEnd' },
          },
        },
        liveness: {
          initial: 'alive',
          states: {
            alive: {
              // Each tick the core sends a keepalive if nothing went out for keepaliveMs, and
              // answers PEER_IDLE if nothing came in for idleTimeoutMs.
              after: { livenessTick: { target: 'alive', reenter: true, actions: 'livenessTick' } },
            },
          },
        },
      },
      always: {
        guard: and([stateIn('#utp.connected.send.finAcked'), stateIn('#utp.connected.receive.ended')]),
        target: 'closed',
      },
      on: {
        RESET_RECEIVED: { target: 'reset', actions: { type: 'fail', params: { code: 'ECONNRESET' } } },
        PEER_IDLE: { target: 'timedOut', actions: { type: 'fail', params: { code: 'ETIMEDOUT' } } },
        RTO_FIRED: [
          // Both sides' data and the peer's FIN arrived; only our FIN is unacked, twice over. A
          // libtorrent peer deletes its socket once its own FIN is acked and never answers ours:
          // nothing is lost, so this is a clean close, not a timeout.
          {
            guard: and([
              'peerGoneAfterFin',
              stateIn('#utp.connected.send.finSent'),
              stateIn('#utp.connected.receive.ended'),
            ]),
            target: 'closed',
          },
          {
            guard: 'retransmitLimitReached',
            target: 'timedOut',
            actions: { type: 'fail', params: { code: 'ETIMEDOUT' } },
          },
        ],
        DESTROY: [
          { guard: 'hasError', target: 'destroyed', actions: ['recordDestroyCode', 'sendReset'] },
          { target: 'destroyed', actions: 'sendFinOnce' },
        ],
      },
    },
    closed: { type: 'final', entry: [{ type: 'end', params: { outcome: 'closed' } }, 'finished'] },
    reset: { type: 'final', entry: [{ type: 'end', params: { outcome: 'reset' } }, 'finished'] },
    timedOut: { type: 'final', entry: [{ type: 'end', params: { outcome: 'timedOut' } }, 'finished'] },
    refused: { type: 'final', entry: [{ type: 'end', params: { outcome: 'refused' } }, 'finished'] },
    destroyed: { type: 'final', entry: [{ type: 'end', params: { outcome: 'destroyed' } }, 'finished'] },
  },
});
