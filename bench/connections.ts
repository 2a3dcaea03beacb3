/**
 * Scale: N idle connections from one shared socket to a server in the same process (both ends in
 * one process, as the issue measured), for utpx and utp-native. Prints the set-up rate and RSS and
 * heap per connection once idle (both ends together).
 *
 *   npx tsx bench/connections.ts [--n=1000,10000] [--kinds=utpx,utp-native]
 */
import { fileURLToPath } from 'node:url';
import { forkChild, nextMessage } from './lib/child.js';

const CHILD = fileURLToPath(new URL('./lib/conns-child.ts', import.meta.url));

export interface ConnsResult {
  kind: string;
  n: number;
  connected: number;
  setupSeconds: number;
  perSecond: number;
  rssPerConnKB: number;
  heapPerConnKB: number;
}

export async function connections(kind: string, n: number): Promise<ConnsResult> {
  const child = forkChild(CHILD, [kind, String(n)], 300_000);
  try {
    return await nextMessage<ConnsResult & { type: string }>(child, 'conns');
  } finally {
    if (child.exitCode === null) child.kill();
  }
}

export function formatConns(r: ConnsResult): string {
  return (
    `${r.kind.padEnd(11)} ${String(r.n).padStart(6)} connections: ${r.connected} connected in ` +
    `${r.setupSeconds.toFixed(2)} s (${r.perSecond.toFixed(0)}/s); idle: ${r.rssPerConnKB.toFixed(1)} KB RSS, ` +
    `${r.heapPerConnKB.toFixed(1)} KB heap per connection (both ends)`
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const flag = (n: string) => args.find((a) => a.startsWith(`--${n}=`))?.slice(n.length + 3);
  const ns = (flag('n') ?? '1000,10000').split(',').map(Number);
  const kinds = (flag('kinds') ?? 'utpx,utp-native').split(',');
  for (const n of ns) {
    for (const k of kinds) {
      try {
        console.log(`  ${formatConns(await connections(k, n))}`);
      } catch (err) {
        console.log(`  ${k} ${n}: FAILED ${String(err)}`);
      }
    }
  }
}
