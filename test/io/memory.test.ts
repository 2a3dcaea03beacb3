import { createHash } from 'node:crypto';
import { once } from 'node:events';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { noiseChunk, noisePool } from '../../bench/lib/noise.js';
import { DEFAULT_RECV_WINDOW, DEFAULT_SEND_QUEUE } from '../../src/core/connection.js';
import { connect, createServer, type Socket } from '../../src/io/index.js';

const MiB = 1024 * 1024;
const TOTAL = 256 * MiB;
const CHUNK = 64 * 1024;
const SEED = 0x2545f491;

function pool(seed: number): Buffer {
  return noisePool(seed, 4 * MiB);
}

function chunk(p: Buffer, index: number): Buffer {
  return noiseChunk(p, index, CHUNK);
}

// A full collection before each sample, so the samples show what is live, not garbage not yet swept.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** What this process holds live in JS heap and buffers. */
function held(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe('memory under backpressure', () => {
  it(`stays flat over a 256 MiB transfer to a reader that pauses and resumes (seed ${SEED})`, async () => {
    const p = pool(SEED);
    const expected = createHash('sha256');
    for (let i = 0; i < TOTAL / CHUNK; i++) expected.update(chunk(p, i));
    const want = expected.digest('hex');

    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = connect(server.address().port, '127.0.0.1');
    const [s] = (await once(server, 'connection')) as [Socket];

    const baseline = held();
    const samples: number[] = [];
    let maxSenderBacklog = 0;
    const got = createHash('sha256');
    let received = 0;
    let nextPause = 16 * MiB;
    const done = new Promise<void>((resolve, reject) => {
      s.on('data', (d: Buffer) => {
        got.update(d);
        received += d.length;
        if (received >= nextPause) {
          // A slow consumer: stop for a while every 16 MiB, long enough for the window to close.
          nextPause += 16 * MiB;
          samples.push(held() - baseline);
          s.pause();
          setTimeout(() => s.resume(), 30);
        }
      });
      s.once('end', () => resolve());
      s.once('error', reject);
    });
    for (let i = 0; i < TOTAL / CHUNK; i++) {
      if (!client.write(chunk(p, i))) {
        maxSenderBacklog = Math.max(maxSenderBacklog, client.writableLength);
        await once(client, 'drain');
      }
    }
    client.end();
    await done;
    s.end();
    const serverClosed = once(server, 'close');
    server.close();
    await serverClosed;
    expect(got.digest('hex'), `seed ${SEED}`).toBe(want);
    expect(received).toBe(TOTAL);
    // The sender's stream never held more than its high-water mark plus one chunk.
    expect(maxSenderBacklog).toBeLessThanOrEqual(client.writableHighWaterMark + CHUNK);
    // Memory does not grow with the bytes moved: what is live mid-transfer stays within the windows
    // and buffers of one connection (receive window, send queue, the send buffer's reused slots),
    // far below the 256 MiB that went through, and the last samples are no higher than the first.
    // The send buffer reuses up to 1024 slots of one datagram (16 KiB on loopback): 16 MiB.
    const sendBufferSlots = 1024 * 16 * 1024;
    const bound = DEFAULT_RECV_WINDOW + DEFAULT_SEND_QUEUE + sendBufferSlots + 32 * MiB;
    console.log(`held above baseline (MiB): ${samples.map((b) => (b / MiB).toFixed(0)).join(' ')}`);
    expect(Math.max(...samples)).toBeLessThan(bound);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(samples.slice(-4))).toBeLessThan(mean(samples.slice(0, 4)) + 16 * MiB);
  });
});
