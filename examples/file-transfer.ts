/**
 * Send a file over uTP and show progress: a receiver that writes what arrives to a file, a sender
 * that pipes a file into the connection and prints how far it is, then both checksums.
 *
 *   npx tsx examples/file-transfer.ts [file]     # without a file: 8 MiB of random bytes
 *
 * Progress is the receiver's byte count; `socket.stats()` adds what uTP itself sees (congestion
 * window, round-trip time, retransmissions).
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { connect, createServer, type Socket } from 'utpx';

const dir = mkdtempSync(join(tmpdir(), 'utpx-example-'));
let source = process.argv[2];
if (source === undefined) {
  source = join(dir, 'random.bin');
  writeFileSync(source, randomBytes(8 * 1024 * 1024));
}
const size = statSync(source).size;
const target = join(dir, 'received.bin');

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

// The receiver: one connection, written to a file as it arrives.
const server = createServer();
const received = new Promise<void>((resolve, reject) => {
  server.once('connection', (socket: Socket) => {
    let bytes = 0;
    let lastPercent = -1;
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      const percent = Math.floor((bytes / size) * 100);
      if (percent >= lastPercent + 25 || bytes === size) {
        lastPercent = percent;
        console.log(`progress: ${String(percent).padStart(3)} % (${bytes} of ${size} bytes)`);
      }
    });
    // Sockets are half-open by default (utp-native's): once the file is in, end our side too.
    pipeline(socket, createWriteStream(target)).then(() => {
      socket.end();
      resolve();
    }, reject);
  });
});

server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  const socket = connect(port, '127.0.0.1');
  socket.resume(); // the receiver sends nothing back; reading lets its end (and the close) arrive
  const started = performance.now();
  await pipeline(createReadStream(source), socket);
  await received;
  const seconds = (performance.now() - started) / 1000;
  const s = socket.stats();
  console.log(
    `sent ${size} bytes in ${seconds.toFixed(2)} s; ${s.packetsSent} packets, ${s.retransmits} retransmitted, ` +
      `srtt ${(s.srttUs / 1000).toFixed(1)} ms`,
  );
  const same = sha256(source) === sha256(target);
  console.log(same ? 'sha256 matches' : 'sha256 DIFFERS');
  socket.on('close', () => server.close());
  rmSync(dir, { recursive: true, force: true });
  if (!same) process.exitCode = 1;
});
