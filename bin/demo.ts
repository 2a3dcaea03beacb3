/**
 * `npm start`: a 64 MiB transfer through utpx over loopback, server and client in this process.
 * Shows the CLI's progress display (a live line on a terminal, then the summary with throughput),
 * then prints CPU time, whether the SHA-256 of what arrived matches what was sent, and both
 * sockets' protocol statistics.
 *
 *   npm start -- [--mb 64] [--mtu N] [--host 127.0.0.1|::1] [--sockbuf bytes]
 *
 * --mtu sets the loopback datagram ceiling (default: the library's, which follows the kernel
 * receive buffer: see loopbackCeilingFor).
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { noiseChunk, noisePool } from '../bench/lib/noise.js';
import { Progress, progressMode } from '../src/cli/progress.js';
import { connect, createServer, type Socket } from '../src/io/index.js';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '64' },
    mtu: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    /** Kernel UDP buffer request; Linux caps it at net.core.rmem_max / wmem_max. */
    sockbuf: { type: 'string', default: String(4 * 1024 * 1024) },
  },
});
const totalBytes = Number(values.mb) * 1024 * 1024;
const mtu = values.mtu === undefined ? undefined : Number(values.mtu);
const host = values.host;
const bufferSize = Number(values.sockbuf);
const socketOptions = {
  ...(mtu === undefined ? {} : { loopbackMtu: mtu }),
  recvBufferSize: bufferSize,
  sendBufferSize: bufferSize,
};
const CHUNK = 64 * 1024;

const POOL = noisePool(0x9e3779b9, 4 * 1024 * 1024);

/** The transfer's bytes, chunk by chunk, so 64 MiB never sits in memory twice. */
function* generate(total: number): Generator<Buffer> {
  let index = 0;
  for (let sent = 0; sent < total; sent += CHUNK, index++) yield noiseChunk(POOL, index, Math.min(CHUNK, total - sent));
}

function listen(): Promise<{ port: number; done: Promise<Socket> }> {
  return new Promise((resolveListening, reject) => {
    let settle: (s: Socket) => void = () => {};
    const done = new Promise<Socket>((r) => {
      settle = r;
    });
    const server = createServer(socketOptions, (socket) => {
      socket.on('data', (d: Buffer) => {
        recvHash.update(d);
        received += d.length;
      });
      socket.on('end', () => socket.end());
      socket.on('error', reject);
      socket.on('close', () => server.close(() => settle(socket)));
    });
    server.on('error', reject);
    server.listen(0, host, () => resolveListening({ port: server.address().port, done }));
  });
}

const recvHash = createHash('sha256');
let received = 0;

async function main(): Promise<void> {
  // Generated and hashed before the clock starts: the figures are for the transport.
  const chunks = [...generate(totalBytes)];
  const sent = createHash('sha256');
  for (const c of chunks) sent.update(c);
  const sentDigest = sent.digest('hex');
  const { port, done } = await listen();
  console.log(
    `utpx loopback transfer to ${host}, uTP datagrams up to ${mtu ?? 'the default loopback ceiling (16384, or 65000 with a 2 MiB+ kernel buffer)'}${mtu === undefined ? '' : ' bytes'}`,
  );
  const cpu0 = process.cpuUsage();
  const client = connect(port, host, socketOptions);
  // The receiver is in this process: its byte count is what has arrived, with no per-packet tracing.
  const progress = new Progress({
    stream: process.stderr,
    mode: progressMode(process.stderr, false),
    direction: 'sent',
    total: totalBytes,
    peer: `to ${host}:${port}`,
    sample: () => {
      const s = client.connection?.stats();
      return {
        bytes: received,
        cwnd: s?.cwnd ?? 0,
        srttUs: s?.srttUs ?? 0,
        queuingDelayUs: s?.queuingDelayUs ?? 0,
        retransmits: s === undefined ? 0 : s.retransmits + s.tailProbes,
      };
    },
  });
  progress.start();
  const clientClosed = new Promise<void>((resolve, reject) => {
    client.on('close', () => resolve());
    client.on('error', reject);
  });
  client.resume();
  for (const chunk of chunks) {
    if (!client.write(chunk)) await new Promise((r) => client.once('drain', r));
  }
  client.end();
  const [serverSocket] = await Promise.all([done, clientClosed]);
  const cpu = process.cpuUsage(cpu0);
  progress.finish();
  const got = recvHash.digest('hex');
  const ok = sentDigest === got && received === totalBytes;
  console.log(
    `  CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s (user ${(cpu.user / 1e6).toFixed(2)}, system ${(cpu.system / 1e6).toFixed(2)})`,
  );
  console.log(`  sha256 sent     ${sentDigest}`);
  console.log(`  sha256 received ${got}  ${ok ? 'MATCH' : 'MISMATCH'}`);
  console.log('  client (sender) stats:', client.stats());
  console.log('  server (receiver) stats:', serverSocket.stats());
  if (!ok) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
