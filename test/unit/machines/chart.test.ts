/**
 * The lifecycle chart alone: no core, no endpoint, no socket. Its context is plain data and what it
 * wants done it emits, so a SimulatedClock and a list of the effects it asked for are all it needs.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import {
  type ConnectionEffect,
  type ConnectionEvent,
  connectionMachine,
  DEFAULT_LIFECYCLE,
  type LifecycleConfig,
} from '../../../src/machines/connection.machine.js';

function chart(config: Partial<LifecycleConfig> = {}) {
  const clock = new SimulatedClock();
  const actor = createActor(connectionMachine, { input: { config: { ...DEFAULT_LIFECYCLE, ...config } }, clock });
  const effects: string[] = [];
  actor.on('*', (e) => {
    const effect = e as ConnectionEffect;
    effects.push(
      effect.type === 'finished' ? `finished(${effect.outcome},${effect.code ?? '-'},${effect.clean})` : effect.type,
    );
  });
  actor.start();
  const send = (...events: ConnectionEvent[]) => {
    for (const e of events) actor.send(e);
  };
  const take = () => effects.splice(0);
  return { actor, clock, send, take };
}

describe('the connection chart on its own', () => {
  it('connects: a SYN, then SYN_ACKED; no data-path effect ever comes from the chart', () => {
    const c = chart();
    c.send({ type: 'CONNECT' });
    expect(c.actor.getSnapshot().value).toEqual({ connecting: 'synSent' });
    expect(c.take()).toEqual(['sendSyn']);
    c.send({ type: 'SYN_ACKED' });
    expect(c.actor.getSnapshot().matches('connected')).toBe(true);
    expect(c.take()).toEqual(['connected']);
  });

  it('retries the SYN with doubling timeouts, then gives up: ETIMEDOUT, not clean', () => {
    const c = chart({ synRtoMs: 100, synRetries: 2, connectTimeoutMs: 60_000 });
    c.send({ type: 'CONNECT' });
    c.clock.increment(100);
    expect(c.actor.getSnapshot().context.synRtoMs).toBe(200);
    c.clock.increment(200);
    expect(c.take()).toEqual(['sendSyn', 'sendSyn', 'sendSyn']);
    c.clock.increment(400);
    const snap = c.actor.getSnapshot();
    expect(snap.status).toBe('done');
    expect(snap.output).toEqual({ outcome: 'timedOut', code: 'ETIMEDOUT', clean: false });
    expect(c.take()).toEqual(['finished(timedOut,ETIMEDOUT,false)']);
  });

  it('closes cleanly once our FIN is acked and the peer’s stream has ended, in either order', () => {
    for (const order of [
      ['FIN_ACKED', 'FIN_RECEIVED', 'EOF_DELIVERED'],
      ['FIN_RECEIVED', 'EOF_DELIVERED', 'FIN_ACKED'],
    ] as const) {
      const c = chart();
      c.send({ type: 'CONNECT' }, { type: 'SYN_ACKED' }, { type: 'END' });
      for (const type of order) c.send({ type });
      expect(c.actor.getSnapshot().output).toEqual({ outcome: 'closed', code: undefined, clean: true });
      expect(c.take()).toEqual(['sendSyn', 'connected', 'queueFin', 'readEnded', 'finished(closed,-,true)']);
    }
  });

  it('an END while connecting is remembered: the FIN is queued once connected', () => {
    const c = chart();
    c.send({ type: 'CONNECT' }, { type: 'END' }, { type: 'SYN_ACKED' });
    expect(c.actor.getSnapshot().matches({ connected: { send: 'finSent' } })).toBe(true);
    expect(c.take()).toEqual(['sendSyn', 'connected', 'queueFin']);
  });

  it('survives maxRetransmits timeouts and ends at the next', () => {
    const c = chart({ maxRetransmits: 2 });
    c.send({ type: 'CONNECT' }, { type: 'SYN_ACKED' });
    c.send({ type: 'RTO_FIRED', count: 1 }, { type: 'RTO_FIRED', count: 2 });
    expect(c.actor.getSnapshot().status).toBe('active');
    c.send({ type: 'RTO_FIRED', count: 3 });
    expect(c.actor.getSnapshot().output).toEqual({ outcome: 'timedOut', code: 'ETIMEDOUT', clean: false });
  });

  it('only our FIN unacked after the peer closed: a clean close at the second timeout, not before', () => {
    const c = chart();
    c.send({ type: 'CONNECT' }, { type: 'SYN_ACKED' }, { type: 'FIN_RECEIVED' }, { type: 'EOF_DELIVERED' });
    c.send({ type: 'END' }, { type: 'RTO_FIRED', count: 1, finOnly: true });
    expect(c.actor.getSnapshot().status).toBe('active');
    c.send({ type: 'RTO_FIRED', count: 2, finOnly: true });
    expect(c.actor.getSnapshot().output).toEqual({ outcome: 'closed', code: undefined, clean: true });
  });

  it('ticks liveness while connected; PEER_IDLE ends it with ETIMEDOUT', () => {
    const c = chart({ keepaliveMs: 1000, idleTimeoutMs: 0 });
    c.send({ type: 'CONNECT' }, { type: 'SYN_ACKED' });
    c.take();
    c.clock.increment(1000);
    c.clock.increment(1000);
    expect(c.take()).toEqual(['livenessTick', 'livenessTick']);
    c.send({ type: 'PEER_IDLE' });
    expect(c.actor.getSnapshot().output).toEqual({ outcome: 'timedOut', code: 'ETIMEDOUT', clean: false });
  });

  it('refused, reset and destroyed, with the codes net uses', () => {
    const refused = chart();
    refused.send({ type: 'CONNECT' }, { type: 'RESET_RECEIVED' });
    expect(refused.actor.getSnapshot().output).toEqual({ outcome: 'refused', code: 'ECONNREFUSED', clean: false });

    const reset = chart();
    reset.send({ type: 'CONNECT' }, { type: 'SYN_ACKED' }, { type: 'RESET_RECEIVED' });
    expect(reset.actor.getSnapshot().output).toEqual({ outcome: 'reset', code: 'ECONNRESET', clean: false });

    const polite = chart();
    polite.send({ type: 'CONNECT' }, { type: 'SYN_ACKED' }, { type: 'DESTROY' });
    expect(polite.take()).toEqual(['sendSyn', 'connected', 'sendFinOnce', 'finished(destroyed,-,true)']);

    const abort = chart();
    abort.send({ type: 'CONNECT' }, { type: 'SYN_ACKED' }, { type: 'DESTROY', code: 'EPIPE' });
    expect(abort.take()).toEqual(['sendSyn', 'connected', 'sendReset', 'finished(destroyed,EPIPE,false)']);
  });

  it('an accepted SYN waits for the initiator: PEER_ACKED, or the half-open bound', () => {
    const c = chart({ keepaliveMs: 1000, connectTimeoutMs: 1000 });
    c.send({ type: 'SYN', packet: new Uint8Array(20) });
    expect(c.take()).toEqual(['acceptSyn']);
    expect(c.actor.getSnapshot().value).toBe('synReceived');
    c.clock.increment(2000);
    expect(c.actor.getSnapshot().output).toEqual({ outcome: 'timedOut', code: 'ETIMEDOUT', clean: false });
  });
});
