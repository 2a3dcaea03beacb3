/**
 * Latency: a 1-byte ping-pong over 127.0.0.1, server and client in separate processes, through TCP,
 * utp-native (libutp) and utpx, and bare node:dgram ('dgram': the floor under any transport on
 * dgram). Prints p50 and p99 of the round-trip time and each kind's ratio to TCP and to dgram.
 *
 *   npx tsx bench/latency.ts [round trips] [--runs=N] [--kinds=tcp,utp-native,utpx]
 */
import { fileURLToPath } from 'node:url';
import { forkChild, nextMessage, percentile } from './lib/child.js';
import { median } from './lib/measure.js';

const CHILD = fileURLToPath(new URL('./lib/pingpong-child.ts', import.meta.url));

export interface LatencyResult {
  kind: string;
  p50Us: number;
  p99Us: number;
  ok: boolean;
  error?: string;
}

export async function pingPong(kind: string, roundTrips: number): Promise<LatencyResult> {
  const server = forkChild(CHILD, [kind, 'server']);
  try {
    const { port } = await nextMessage<{ type: string; port: number }>(server, 'listening');
    const client = forkChild(CHILD, [kind, 'client', String(port), String(roundTrips)]);
    try {
      const { samplesUs } = await nextMessage<{ type: string; samplesUs: number[] }>(client, 'latency');
      return { kind, p50Us: percentile(samplesUs, 50), p99Us: percentile(samplesUs, 99), ok: true };
    } finally {
      if (client.exitCode === null) client.kill();
    }
  } catch (err) {
    return { kind, p50Us: Number.NaN, p99Us: Number.NaN, ok: false, error: String(err) };
  } finally {
    if (server.exitCode === null) server.kill();
  }
}

/** Interleaved runs; the median of each kind's p50 and p99. */
export async function latency(kinds: string[], roundTrips: number, runs: number, log = console.log) {
  const all = new Map<string, LatencyResult[]>(kinds.map((k) => [k, []]));
  for (let r = 0; r < runs; r++) {
    for (const k of kinds) {
      const res = await pingPong(k, roundTrips);
      all.get(k)?.push(res);
      log(
        `  run ${r + 1} ${k.padEnd(12)} p50 ${res.p50Us.toFixed(0).padStart(5)} µs  p99 ${res.p99Us.toFixed(0).padStart(6)} µs` +
          (res.ok ? '' : `  FAILED: ${res.error}`),
      );
    }
  }
  return kinds.map((kind) => {
    const ok = (all.get(kind) ?? []).filter((r) => r.ok);
    return {
      kind,
      p50Us: ok.length > 0 ? median(ok.map((r) => r.p50Us)) : Number.NaN,
      p99Us: ok.length > 0 ? median(ok.map((r) => r.p99Us)) : Number.NaN,
      ok: ok.length === runs,
    };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const n = Number(args.find((a) => !a.startsWith('--')) ?? 5000);
  const runs = Number(flag('runs') ?? 3);
  const kinds = (flag('kinds') ?? 'tcp,dgram,utp-native,utpx').split(',');
  console.log(`latency: 1-byte ping-pong over 127.0.0.1, ${n} round trips, ${runs} run(s), separate processes`);
  const summary = await latency(kinds, n, runs);
  const tcp = summary.find((s) => s.kind === 'tcp');
  const raw = summary.find((s) => s.kind === 'dgram');
  for (const s of summary) {
    let vs =
      tcp && s !== tcp
        ? `   vs tcp: p50 ${(s.p50Us / tcp.p50Us).toFixed(2)}x, p99 ${(s.p99Us / tcp.p99Us).toFixed(2)}x`
        : '';
    if (raw && s !== raw && s !== tcp)
      vs += `; vs dgram: p50 ${(s.p50Us / raw.p50Us).toFixed(2)}x, p99 ${(s.p99Us / raw.p99Us).toFixed(2)}x`;
    console.log(
      `  ${s.kind.padEnd(12)} p50 ${s.p50Us.toFixed(0).padStart(5)} µs  p99 ${s.p99Us.toFixed(0).padStart(6)} µs${vs}`,
    );
  }
}
