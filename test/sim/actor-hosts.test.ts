import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/machines/connection.js';
import { SimNetwork } from '../../src/sim/network.js';
import { createSimEndpoint } from '../../src/sim/utp.js';

const SEED = 4242;

describe("connections' actors share XState systems (per-connection memory)", () => {
  it(`groups at most 64 actors per system, cancels a finished actor's timers, and keeps one host (seed ${SEED})`, () => {
    const net = new SimNetwork({ seed: SEED });
    net.setPath('a', 'b', { delayUs: 2_000 });
    const a = createSimEndpoint(net, 'a', 1000);
    const b = createSimEndpoint(net, 'b', 2000);
    const accepted: Connection[] = [];
    b.endpoint.onConnection = (c) => {
      accepted.push(c);
      c.events = { onEnd: () => c.end() };
    };
    const N = 150;
    const conns: Connection[] = [];
    for (let i = 0; i < N; i++) conns.push(a.endpoint.connect(2000, 'b'));
    net.run({ until: () => accepted.length === N && conns.every((c) => c.connected) });

    const systems = new Map<unknown, number>();
    for (const c of conns) systems.set(c.actor.system, (systems.get(c.actor.system) ?? 0) + 1);
    expect(systems.size).toBe(Math.ceil(N / 64));
    expect(Math.max(...systems.values())).toBe(64);
    // Each endpoint has its own hosts (its own clock).
    for (const c of accepted) expect(systems.has(c.actor.system)).toBe(false);

    for (const c of conns) c.end();
    net.run({ until: () => conns.every((c) => c.closed) && accepted.every((c) => c.closed) });
    for (const c of conns) expect(c.outcome).toBe('closed');
    // No finished actor left a delayed event (the liveness tick, …) scheduled in a shared system.
    for (const system of systems.keys()) {
      const s = system as { getSnapshot(): { _scheduledEvents: Record<string, unknown> } };
      expect(Object.keys(s.getSnapshot()._scheduledEvents)).toEqual([]);
    }

    // The emptied hosts are dropped but the last: the next connection joins a system seen before.
    const next = a.endpoint.connect(2000, 'b');
    net.run({ until: () => next.connected });
    expect(systems.has(next.actor.system)).toBe(true);
    const again = a.endpoint.connect(2000, 'b');
    net.run({ until: () => again.connected });
    expect(again.actor.system).toBe(next.actor.system);
  });
});
