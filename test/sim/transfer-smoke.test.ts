import { describe, expect, it } from 'vitest';
import { SimNetwork } from '../../src/sim/network.js';
import { createSimEndpoint } from '../../src/sim/utp.js';

describe('smoke', () => {
  it('connects and moves bytes one way', () => {
    const net = new SimNetwork({ seed: 1 });
    net.addHost('a');
    net.addHost('b');
    net.setPath('a', 'b', { delayUs: 10_000 });
    const a = createSimEndpoint(net, 'a', 1000);
    const b = createSimEndpoint(net, 'b', 2000);
    const received: Uint8Array[] = [];
    let ended = false;
    b.endpoint.onConnection = (conn) => {
      conn.events = {
        onData: (p) => received.push(p.slice()),
        onEnd: () => {
          ended = true;
          conn.end();
        },
      };
    };
    const c = a.endpoint.connect(2000, 'b');
    let connected = false;
    c.events = {
      onConnect: () => {
        connected = true;
      },
    };
    const data = net.prng.bytes(200_000);
    c.write(data);
    c.end();
    const r = net.run({ until: () => c.closed, maxTimeUs: 60_000_000 });
    console.log(r, c.state, c.outcome, c.stats());
    expect(connected).toBe(true);
    const total = Buffer.concat(received);
    expect(total.length).toBe(data.length);
    expect(Buffer.compare(total, Buffer.from(data))).toBe(0);
    expect(ended).toBe(true);
    expect(c.outcome).toBe('closed');
  });
});
