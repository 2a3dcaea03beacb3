/**
 * Test your application over a bad network without one: the seeded simulator (`utpx/sim`) runs
 * two utpx endpoints over a path that loses 10 % of the datagrams each way (plus delay and jitter),
 * on a virtual clock — seconds of network time in milliseconds, and the same run every time for
 * the same seed.
 *
 *   npx tsx examples/sim-loss.ts [seed]
 *
 * The "application" here is a tiny request/response protocol: the client sends a request line, the
 * server answers with 256 KiB derived from it, and the client checks every byte.
 */
import assert from 'node:assert/strict';
import { createSimEndpoint, SIM_START_US, SimNetwork } from 'utpx/sim';

const seed = Number(process.argv[2] ?? 1);
const net = new SimNetwork({ seed });
net.setPath('10.0.0.1', '10.0.0.2', { delayUs: 30_000, jitterUs: 5_000, loss: 0.1 });
const client = createSimEndpoint(net, '10.0.0.1', 40000);
const server = createSimEndpoint(net, '10.0.0.2', 6881);

const RESPONSE_BYTES = 256 * 1024;
const respond = (request: string) => {
  const out = new Uint8Array(RESPONSE_BYTES);
  for (let i = 0; i < out.length; i++) out[i] = (request.charCodeAt(i % request.length) + i) & 0xff;
  return out;
};

// The server: read one request line, answer it, close.
server.endpoint.onConnection = (conn) => {
  let request = '';
  conn.events.onData = (bytes) => {
    request += Buffer.from(bytes).toString();
    if (request.endsWith('\n')) {
      conn.write(respond(request.trim()));
      conn.end();
    }
  };
};

// The client: send the request, collect the answer.
const conn = client.endpoint.connect(6881, '10.0.0.2');
const chunks: Buffer[] = [];
let ended = false;
conn.events.onData = (bytes) => chunks.push(Buffer.from(bytes));
conn.events.onEnd = () => {
  ended = true;
  conn.end();
};
conn.write(Buffer.from('GET /file\n'));

const wall = performance.now();
const result = net.run({ until: () => conn.closed, maxTimeUs: 120_000_000 });
const wallMs = performance.now() - wall;

assert.equal(result.reason, 'done', 'the connection did not finish in 120 s of simulated time');
assert.ok(ended, 'the response never ended');
const got = Buffer.concat(chunks);
assert.equal(got.length, RESPONSE_BYTES);
assert.ok(got.equals(Buffer.from(respond('GET /file'))), 'the response is corrupt');

const link = net.linkStats('10.0.0.2', '10.0.0.1');
const s = conn.stats();
console.log(`seed ${seed}: ${RESPONSE_BYTES} bytes intact through 10 % loss`);
console.log(`  network lost ${link.lost} of ${link.sent} datagrams server → client`);
console.log(`  client acked with ${s.packetsSent} packets; connection ended as ${conn.outcome}`);
console.log(`  ${((net.now() - SIM_START_US) / 1e6).toFixed(2)} s of simulated time in ${wallMs.toFixed(0)} ms`);
