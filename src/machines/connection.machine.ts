/**
 * The uTP connection lifecycle as an XState v5 statechart.
 *
 * The chart holds names only: every action, guard and delay below is a small function that calls
 * the protocol core (src/core/connection.ts) or reads the configuration. Per-packet work (data,
 * acks, retransmissions, LEDBAT) never passes through here; the core raises the few events that
 * change the lifecycle: SYN_ACKED, PEER_ACKED, FIN_RECEIVED, EOF_DELIVERED, FIN_ACKED,
 * RESET_RECEIVED and RTO_FIRED.
 *
 * Final states say how the connection ended: closed, reset, timedOut, refused or destroyed.
 */
import { and, assign, setup, stateIn } from 'xstate';
import type { ConnectionCore, SynAnswered } from '../core/connection.js';

export type Outcome = 'closed' | 'reset' | 'timedOut' | 'refused' | 'destroyed';

/** What the chart tells its owner; the owner turns these into stream events. */
export interface ConnectionHost {
  onConnected(): void;
  onReadEnd(): void;
  onClosed(outcome: Outcome, code: string | undefined): void;
}

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
};

export interface ConnectionInput {
  core: ConnectionCore;
  host: ConnectionHost;
  /** µs clock, the same the core is driven with. */
  now: () => number;
  /** 16-bit random numbers for connection ids and initial sequence numbers. */
  random16: () => number;
  config: LifecycleConfig;
}

export interface ConnectionContext extends ConnectionInput {
  synRtoMs: number;
  synAttempts: number;
  endRequested: boolean;
  /** Error code the connection ended with, as `net` names them. */
  code: string | undefined;
  /** Set on entering a final state. */
  outcome: Outcome | undefined;
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
  | { type: 'RTO_FIRED'; count: number; finOnly?: boolean };

const LIVENESS_FLOOR_MS = 10;

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
    output: {} as { outcome: Outcome; code: string | undefined },
  },
  actions: {
    sendSyn: ({ context }) => {
      context.synAttempts++;
      // The endpoint assigned the ids; the initial seq_nr is drawn for the first SYN only.
      context.core.sendSyn(context.now(), context.random16());
    },
    backoffSyn: assign({ synRtoMs: ({ context }) => context.synRtoMs * 2 }),
    acceptSyn: ({ context, event }) => {
      if (event.type !== 'SYN') return;
      context.core.acceptSyn(context.now(), event.packet, event.initialSeq ?? context.random16(), event.answered);
    },
    requestEnd: assign({ endRequested: true }),
    queueFin: ({ context }) => context.core.queueFin(),
    sendFinOnce: ({ context }) => context.core.sendFinOnce(context.now()),
    sendReset: ({ context }) => context.core.sendReset(context.now()),
    sendKeepalive: ({ context }) => {
      const now = context.now();
      if (now - context.core.lastSentAt >= context.config.keepaliveMs * 1000) context.core.sendKeepalive(now);
    },
    notifyConnected: ({ context }) => context.host.onConnected(),
    notifyReadEnd: ({ context }) => context.host.onReadEnd(),
    recordCode: assign({ code: (_, params: { code: string }) => params.code }),
    recordDestroyCode: assign({
      code: ({ context, event }) => (event.type === 'DESTROY' ? event.code : context.code),
    }),
    recordOutcome: assign({ outcome: (_, params: { outcome: Outcome }) => params.outcome }),
    finish: ({ context }) => {
      const clean = context.outcome === 'closed' || (context.outcome === 'destroyed' && context.code === undefined);
      context.core.close(context.now(), clean);
      context.host.onClosed(context.outcome ?? 'destroyed', context.code);
    },
  },
  guards: {
    canRetrySyn: ({ context }) => context.synAttempts <= context.config.synRetries,
    endRequested: ({ context }) => context.endRequested,
    hasError: ({ event }) => event.type === 'DESTROY' && event.code !== undefined,
    /** libtorrent's own give-up point for a FIN: 2 resends (utp_fin_resends). */
    peerGoneAfterFin: ({ event }) => event.type === 'RTO_FIRED' && event.finOnly === true && event.count >= 2,
    retransmitLimitReached: ({ context, event }) =>
      event.type === 'RTO_FIRED' && event.count > context.core.retransmitLimit,
    idleTooLong: ({ context }) =>
      context.config.idleTimeoutMs > 0 &&
      context.now() - context.core.lastReceivedAt >= context.config.idleTimeoutMs * 1000,
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
    ...input,
    synRtoMs: input.config.synRtoMs,
    synAttempts: 0,
    endRequested: false,
    code: undefined,
    outcome: undefined,
  }),
  output: ({ context }) => ({ outcome: context.outcome ?? 'destroyed', code: context.code }),
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
        connectTimeout: { target: 'timedOut', actions: { type: 'recordCode', params: { code: 'ETIMEDOUT' } } },
      },
      states: {
        synSent: {
          entry: 'sendSyn',
          after: {
            synRto: [
              { guard: 'canRetrySyn', target: 'synSent', reenter: true, actions: 'backoffSyn' },
              { target: '#utp.timedOut', actions: { type: 'recordCode', params: { code: 'ETIMEDOUT' } } },
            ],
          },
        },
      },
      on: {
        SYN_ACKED: { target: 'connected', actions: 'notifyConnected' },
        RESET_RECEIVED: { target: 'refused', actions: { type: 'recordCode', params: { code: 'ECONNREFUSED' } } },
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
        halfOpenTimeout: { target: 'timedOut', actions: { type: 'recordCode', params: { code: 'ETIMEDOUT' } } },
      },
      on: {
        PEER_ACKED: { target: 'connected', actions: 'notifyConnected' },
        RESET_RECEIVED: { target: 'reset', actions: { type: 'recordCode', params: { code: 'ECONNRESET' } } },
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
              after: {
                livenessTick: [
                  {
                    guard: 'idleTooLong',
                    target: '#utp.timedOut',
                    actions: { type: 'recordCode', params: { code: 'ETIMEDOUT' } },
                  },
                  { target: 'alive', reenter: true, actions: 'sendKeepalive' },
                ],
              },
            },
          },
        },
      },
      always: {
        guard: and([stateIn('#utp.connected.send.finAcked'), stateIn('#utp.connected.receive.ended')]),
        target: 'closed',
      },
      on: {
        RESET_RECEIVED: { target: 'reset', actions: { type: 'recordCode', params: { code: 'ECONNRESET' } } },
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
            actions: { type: 'recordCode', params: { code: 'ETIMEDOUT' } },
          },
        ],
        DESTROY: [
          { guard: 'hasError', target: 'destroyed', actions: ['recordDestroyCode', 'sendReset'] },
          { target: 'destroyed', actions: 'sendFinOnce' },
        ],
      },
    },
    closed: { type: 'final', entry: [{ type: 'recordOutcome', params: { outcome: 'closed' } }, 'finish'] },
    reset: { type: 'final', entry: [{ type: 'recordOutcome', params: { outcome: 'reset' } }, 'finish'] },
    timedOut: { type: 'final', entry: [{ type: 'recordOutcome', params: { outcome: 'timedOut' } }, 'finish'] },
    refused: { type: 'final', entry: [{ type: 'recordOutcome', params: { outcome: 'refused' } }, 'finish'] },
    destroyed: { type: 'final', entry: [{ type: 'recordOutcome', params: { outcome: 'destroyed' } }, 'finish'] },
  },
});
