/**
 * LEDBAT at a real kernel bottleneck: sender, router and receiver network namespaces joined by veth
 * pairs, `tbf` 20 mbit with a ~400 ms drop-tail queue on the router's egress towards the receiver
 * (a middle box: with the shaper on the sender's own interface, TCP Small Queues would keep TCP
 * from ever filling it). TCP runs cubic (this machine's default, bbr, does not fill queues; cubic is
 * added to net.ipv4.tcp_allowed_congestion_control for the run and the list restored after).
 *
 * Scenarios: each flow alone (tcp, utpx), then utpx + tcp and libutp + tcp (TCP starts first, the
 * uTP flow joins after a quarter of the run). Reported over the last half of each run: each flow's
 * share of the link and the queuing delay a 32-byte UDP probe sees (its RTT minus the idle RTT).
 *
 *   npx tsx bench/bottleneck.ts [--secs=20] [--quick]     (root, `ip` and `tc` needed)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { percentile } from './lib/child.js';

const CHILD = fileURLToPath(new URL('./lib/flow-child.ts', import.meta.url));
const TSX = fileURLToPath(import.meta.resolve('tsx'));
const NS = { snd: 'utpxb-snd', rtr: 'utpxb-rtr', rcv: 'utpxb-rcv' };
const RCV_ADDR = '10.77.2.1';
const LINK_MBIT = 20;

function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function nsx(ns: string, ...args: string[]): string {
  return sh('ip', 'netns', 'exec', ns, ...args);
}

export function bottleneckAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, tc)';
  try {
    sh('ip', '-V');
    sh('tc', '-V');
  } catch {
    return 'needs `ip` and `tc` (iproute2)';
  }
  return undefined;
}

function teardown(): void {
  for (const ns of Object.values(NS)) {
    try {
      sh('ip', 'netns', 'del', ns);
    } catch {
      // not there
    }
  }
}

function setup(): void {
  teardown();
  for (const ns of Object.values(NS)) sh('ip', 'netns', 'add', ns);
  sh('ip', 'link', 'add', 'utpxb-s0', 'netns', NS.snd, 'type', 'veth', 'peer', 'name', 'utpxb-r0', 'netns', NS.rtr);
  sh('ip', 'link', 'add', 'utpxb-r1', 'netns', NS.rtr, 'type', 'veth', 'peer', 'name', 'utpxb-c0', 'netns', NS.rcv);
  nsx(NS.snd, 'ip', 'addr', 'add', '10.77.1.1/24', 'dev', 'utpxb-s0');
  nsx(NS.rtr, 'ip', 'addr', 'add', '10.77.1.2/24', 'dev', 'utpxb-r0');
  nsx(NS.rtr, 'ip', 'addr', 'add', '10.77.2.2/24', 'dev', 'utpxb-r1');
  nsx(NS.rcv, 'ip', 'addr', 'add', `${RCV_ADDR}/24`, 'dev', 'utpxb-c0');
  for (const [ns, devs] of [
    [NS.snd, ['lo', 'utpxb-s0']],
    [NS.rtr, ['lo', 'utpxb-r0', 'utpxb-r1']],
    [NS.rcv, ['lo', 'utpxb-c0']],
  ] as const) {
    for (const d of devs) nsx(ns, 'ip', 'link', 'set', d, 'up');
  }
  nsx(NS.snd, 'ip', 'route', 'add', 'default', 'via', '10.77.1.2');
  nsx(NS.rcv, 'ip', 'route', 'add', 'default', 'via', '10.77.2.2');
  nsx(NS.rtr, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  // No offloads: the shaper should see MTU-sized packets, as on a real link.
  for (const [ns, d] of [
    [NS.snd, 'utpxb-s0'],
    [NS.rtr, 'utpxb-r0'],
    [NS.rtr, 'utpxb-r1'],
    [NS.rcv, 'utpxb-c0'],
  ] as const) {
    try {
      nsx(ns, 'ethtool', '-K', d, 'tso', 'off', 'gso', 'off', 'gro', 'off');
    } catch {
      // ethtool missing: veth offloads stay on (tbf still shapes the bytes)
    }
  }
  // The bottleneck: 20 mbit, a ~400 ms drop-tail queue (1 MB at 20 mbit).
  nsx(
    NS.rtr,
    'tc',
    'qdisc',
    'add',
    'dev',
    'utpxb-r1',
    'root',
    'tbf',
    'rate',
    `${LINK_MBIT}mbit`,
    'burst',
    '32kb',
    'latency',
    '400ms',
  );
  for (const ns of [NS.snd, NS.rcv]) nsx(ns, 'sysctl', '-qw', 'net.ipv4.tcp_congestion_control=cubic');
}

interface Proc {
  child: ChildProcess;
  lines: Array<Record<string, number | boolean | string>>;
  ready: Promise<void>;
}

function run(ns: string, args: string[]): Proc {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', TSX, CHILD, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Proc['lines'] = [];
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
    try {
      const m = JSON.parse(l) as Record<string, number | boolean | string>;
      if (m.ready === true) onReady();
      lines.push(m);
    } catch {
      // not ours
    }
  });
  return { child, lines, ready };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ScenarioResult {
  name: string;
  /** Mbit/s per flow over the measured window. */
  mbps: Record<string, number>;
  /** Share of the link per flow (0…1). */
  share: Record<string, number>;
  /** Queuing delay the probe saw: median and p90 of (RTT − idle RTT), ms. */
  queueMs: { p50: number; p90: number };
}

/** `flows`: [kind, startAfterFraction]. */
async function scenario(name: string, flows: Array<[string, number]>, secs: number): Promise<ScenarioResult> {
  const procs: Proc[] = [];
  try {
    const echo = run(NS.rcv, ['echo', '9999']);
    procs.push(echo);
    await echo.ready;
    // The idle RTT, before any flow.
    const idle = run(NS.snd, ['probe', RCV_ADDR, '9999', '1']);
    procs.push(idle);
    await new Promise((r) => idle.child.once('exit', r));
    const base = percentile(
      idle.lines.map((l) => Number(l.rttUs)),
      10,
    );
    const receivers: Proc[] = [];
    for (let i = 0; i < flows.length; i++) {
      const [kind] = flows[i] as [string, number];
      const r = run(NS.rcv, ['recv', kind, String(9100 + i)]);
      procs.push(r);
      receivers.push(r);
      await r.ready;
    }
    const probe = run(NS.snd, ['probe', RCV_ADDR, '9999', String(secs)]);
    procs.push(probe);
    const t0 = Date.now();
    const senders = flows.map(async ([kind, after], i) => {
      await sleep(after * secs * 1000);
      procs.push(run(NS.snd, ['send', kind, RCV_ADDR, String(9100 + i), String(secs * (1 - after))]));
    });
    await Promise.all(senders);
    await sleep(Math.max(0, secs * 1000 - (Date.now() - t0)) + 300);
    // The measured window: the last half of the run.
    const from = secs * 500;
    const to = secs * 1000;
    const mbps: Record<string, number> = {};
    const share: Record<string, number> = {};
    flows.forEach(([kind], i) => {
      const lines = (receivers[i] as Proc).lines.filter((l) => typeof l.bytes === 'number');
      const at = (ms: number): number => {
        const l = lines.find((x) => Number(x.t) >= ms) ?? lines[lines.length - 1];
        return l === undefined ? 0 : Number(l.bytes);
      };
      const bits = (at(to) - at(from)) * 8;
      mbps[kind] = bits / ((to - from) / 1000) / 1e6;
      share[kind] = (mbps[kind] as number) / LINK_MBIT;
    });
    const q = probe.lines.filter((l) => Number(l.t) >= from).map((l) => (Number(l.rttUs) - base) / 1000);
    return { name, mbps, share, queueMs: { p50: percentile(q, 50), p90: percentile(q, 90) } };
  } finally {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await sleep(300);
  }
}

export async function bottleneck(secs: number, log = console.log): Promise<ScenarioResult[]> {
  const allowed = sh('sysctl', '-n', 'net.ipv4.tcp_allowed_congestion_control').trim();
  const results: ScenarioResult[] = [];
  try {
    if (!allowed.split(/\s+/).includes('cubic')) {
      sh('sysctl', '-qw', `net.ipv4.tcp_allowed_congestion_control=${allowed} cubic`);
    }
    setup();
    const list: Array<[string, Array<[string, number]>]> = [
      ['tcp alone', [['tcp', 0]]],
      ['utpx alone', [['utpx', 0]]],
      [
        'utpx + tcp',
        [
          ['tcp', 0],
          ['utpx', 0.25],
        ],
      ],
      [
        'libutp + tcp',
        [
          ['tcp', 0],
          ['utp-native', 0.25],
        ],
      ],
    ];
    for (const [name, flows] of list) {
      const r = await scenario(name, flows, secs);
      results.push(r);
      const flowsText = Object.entries(r.mbps)
        .map(([k, v]) => `${k} ${v.toFixed(1)} Mbit/s (${((r.share[k] ?? 0) * 100).toFixed(1)} %)`)
        .join(', ');
      log(
        `  ${name.padEnd(14)} ${flowsText}; queue p50 ${r.queueMs.p50.toFixed(0)} ms, p90 ${r.queueMs.p90.toFixed(0)} ms`,
      );
    }
  } finally {
    teardown();
    sh('sysctl', '-qw', `net.ipv4.tcp_allowed_congestion_control=${allowed}`);
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const secs = Number(args.find((a) => a.startsWith('--secs='))?.slice(7) ?? (quick ? 10 : 20));
  const why = bottleneckAvailable();
  if (why !== undefined) {
    console.log(`bottleneck: skipped — ${why}`);
  } else {
    console.log(
      `bottleneck: ${LINK_MBIT} mbit tbf, ~400 ms queue, router namespace, TCP cubic, ${secs} s per scenario`,
    );
    await bottleneck(secs);
  }
}
