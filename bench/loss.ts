/**
 * Loss: 2 MiB from a utpx client to a utpx server through a loopback relay that drops 15 % of the
 * datagrams each way (seeded, so datagram i of a run meets the same fate every time; timing is
 * real). Prints, per seed, the time from connect() to the last byte and from the handshake to the
 * last byte, and the sender's timeouts and tail-loss probes.
 *
 *   npx tsx bench/loss.ts [--seeds=5] [--loss=0.15] [--mib=2]
 */
import { connect, createServer } from '../src/io/index.js';
import { createRelay } from '../test/helpers/relay.js';
import { median } from './lib/measure.js';

export interface LossRun {
  seed: number;
  totalSeconds: number;
  dataSeconds: number;
  timeouts: number;
  tailProbes: number;
  ok: boolean;
}

export async function lossRun(seed: number, loss: number, mib: number, timeoutMs = 60_000): Promise<LossRun> {
  const bytes = mib * 2 ** 20;
  let got = 0;
  let done: (r: LossRun) => void = () => {};
  const result = new Promise<LossRun>((r) => {
    done = r;
  });
  const server = createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= bytes) finish(true);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const relay = await createRelay({ target: { address: '127.0.0.1', port: server.address().port }, seed, loss });
  const t0 = performance.now();
  let t1 = 0;
  const c = connect(relay.port, '127.0.0.1');
  c.on('error', () => {});
  c.once('connect', () => {
    t1 = performance.now();
  });
  c.end(Buffer.alloc(bytes, 0x33));
  const timer = setTimeout(() => finish(false), timeoutMs);
  let finished = false;
  function finish(ok: boolean): void {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    const now = performance.now();
    const st = c.stats() as { timeouts?: number; tailProbes?: number };
    done({
      seed,
      totalSeconds: (now - t0) / 1000,
      dataSeconds: (now - (t1 || t0)) / 1000,
      timeouts: st.timeouts ?? 0,
      tailProbes: st.tailProbes ?? 0,
      ok,
    });
    c.destroy();
    void relay.close();
    server.close();
  }
  return result;
}

export async function lossBench(seeds: number, loss: number, mib: number, log = console.log): Promise<LossRun[]> {
  const runs: LossRun[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const r = await lossRun(seed, loss, mib);
    runs.push(r);
    log(
      `  seed ${seed}: ${r.ok ? '' : 'DID NOT FINISH in 60 s, '}${r.totalSeconds.toFixed(2)} s from connect(), ` +
        `${r.dataSeconds.toFixed(2)} s after the handshake; ${r.timeouts} timeouts, ${r.tailProbes} tail probes`,
    );
  }
  return runs;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const flag = (n: string) => args.find((a) => a.startsWith(`--${n}=`))?.slice(n.length + 3);
  const seeds = Number(flag('seeds') ?? 5);
  const loss = Number(flag('loss') ?? 0.15);
  const mib = Number(flag('mib') ?? 2);
  console.log(`loss: ${mib} MiB through a loopback relay dropping ${loss * 100} % each way, ${seeds} seeds`);
  const runs = await lossBench(seeds, loss, mib);
  console.log(
    `  median ${median(runs.map((r) => r.totalSeconds)).toFixed(2)} s from connect(), ` +
      `${median(runs.map((r) => r.dataSeconds)).toFixed(2)} s after the handshake`,
  );
  process.exit(0);
}
