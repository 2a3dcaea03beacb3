import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/machines/connection.js';
import { SimNetwork } from '../../src/sim/network.js';
import { createSimEndpoint } from '../../src/sim/utp.js';
import { ST_STATE } from '../../src/wire/constants.js';
import { packetType } from './helpers.js';

const SEED = 9201;

function pair(dropInitiatorStates: boolean) {
  const net = new SimNetwork({ seed: SEED });
  net.setPath('a', 'b', { delayUs: 15_000 });
  // Dropping every bare STATE from the initiator makes it look like a libutp initiator, whose first
  // packet after the handshake is data.
  const a = createSimEndpoint(net, 'a', 1000, {
    drop: (buf) => dropInitiatorStates && packetType(buf) === ST_STATE,
  });
  const b = createSimEndpoint(net, 'b', 2000);
  let accepted: Connection | undefined;
  b.endpoint.onConnection = (c) => {
    accepted = c;
  };
  const client = a.endpoint.connect(2000, 'b');
  return { net, client, accepted: () => accepted };
}

describe('handshake RTT samples', () => {
  it(`both sides know the RTT once the handshake is done (seed ${SEED})`, () => {
    const { net, client, accepted } = pair(false);
    net.run({ until: () => accepted()?.connected === true });
    const server = accepted() as Connection;
    // 15 ms each way: the initiator measured SYN → SYN-ACK, the acceptor SYN-ACK → the initiator's ack.
    expect(client.core.rtt.hasSample).toBe(true);
    expect(client.core.rtt.srttUs).toBe(30_000);
    expect(server.core.rtt.hasSample).toBe(true);
    expect(server.core.rtt.srttUs).toBe(30_000);
  });

  it(`an acceptor whose initiator sends data first takes no sample from the handshake (seed ${SEED})`, () => {
    const { net, client, accepted } = pair(true);
    net.run({ until: () => client.connected });
    net.timers.schedule(net.now() + 500_000, () => client.write(new Uint8Array(100)));
    net.run({ until: () => accepted()?.connected === true });
    const server = accepted() as Connection;
    // Its first packet came 0.5 s after the SYN-ACK: taking it as an RTT would be a 0.5 s lie.
    expect(server.core.rtt.hasSample).toBe(false);
  });
});
