import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { forkChild, nextMessage } from './child.js';

/** What one transfer measured. */
export interface TransferResult {
  kind: string;
  bytes: number;
  received: number;
  /** Wall time from connect() to the last byte arriving. */
  seconds: number;
  /** CPU of the process(es) running both ends, GC included, over the transfer. */
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  /** Peak RSS; the sum of both children's peaks in split mode. */
  maxRssMiB: number;
  /** Split mode: CPU-seconds (user + system) of the receiving and of the sending child. */
  receiverCpuSeconds?: number;
  senderCpuSeconds?: number;
  /** Exactly the bytes sent arrived, in order (compared byte for byte as they came in). */
  ok: boolean;
  error?: string | undefined;
}

/** IPC from ./transfer-child.ts. */
export type ChildMessage =
  | { type: 'result'; result: TransferResult }
  | { type: 'listening'; port: number }
  | { type: 'cpu'; cpuUserSeconds: number; cpuSystemSeconds: number; maxRssMiB: number };

export interface MeasureOptions {
  /** Sender and receiver in separate children (two cores) instead of one. Default false. */
  split?: boolean;
  /** Kill the children after this long (default 120 s). */
  timeoutMs?: number;
  /** Extra environment for the children (e.g. UTPX_BENCH with protocol settings). */
  env?: Record<string, string>;
}

const CHILD = fileURLToPath(new URL('./transfer-child.ts', import.meta.url));
/** The kind 'dgram' is no transport: raw datagrams with a credit per turn (./dgram-child.ts), the ceiling. */
const DGRAM_CHILD = fileURLToPath(new URL('./dgram-child.ts', import.meta.url));

/**
 * Transfers `bytes` over 127.0.0.1 with transport `kind` (a key of `kinds` in ./kinds.ts) in fresh
 * child processes, so runs do not share a heap, JIT state or sockets.
 */
export async function measure(kind: string, bytes: number, opts: MeasureOptions = {}): Promise<TransferResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  if (!opts.split) {
    const child = spawn(kind, bytes, ['both'], timeoutMs, opts.env);
    return (await next(child, 'result')).result;
  }
  const rx = spawn(kind, bytes, ['recv'], timeoutMs, opts.env);
  let tx: ChildProcess | undefined;
  try {
    const { port } = await next(rx, 'listening');
    tx = spawn(kind, bytes, ['send', String(port)], timeoutMs, opts.env);
    const txDone = next(tx, 'cpu');
    const { result } = await Promise.race([next(rx, 'result'), txDone.then(() => never())]);
    tx.send('report');
    const cpu = await txDone;
    return {
      ...result,
      cpuUserSeconds: result.cpuUserSeconds + cpu.cpuUserSeconds,
      cpuSystemSeconds: result.cpuSystemSeconds + cpu.cpuSystemSeconds,
      maxRssMiB: result.maxRssMiB + cpu.maxRssMiB,
      receiverCpuSeconds: result.cpuUserSeconds + result.cpuSystemSeconds,
      senderCpuSeconds: cpu.cpuUserSeconds + cpu.cpuSystemSeconds,
    };
  } finally {
    for (const c of [rx, tx]) if (c !== undefined && c.exitCode === null) c.kill();
  }
}

function never(): Promise<never> {
  return new Promise(() => {});
}

function spawn(
  kind: string,
  bytes: number,
  extra: string[],
  timeoutMs: number,
  env?: Record<string, string>,
): ChildProcess {
  const [role = 'both', port = '0'] = extra;
  const [file, args] =
    kind === 'dgram' ? [DGRAM_CHILD, [role, port, String(bytes)]] : [CHILD, [kind, String(bytes), ...extra]];
  return forkChild(file, args, timeoutMs, env ? { ...process.env, ...env } : undefined);
}

/** The child's next message of `type`; rejects if it exits first (a 'result' with ok: false also counts). */
function next<T extends ChildMessage['type']>(
  child: ChildProcess,
  type: T,
): Promise<Extract<ChildMessage, { type: T }>> {
  return nextMessage(child, type, (m) => {
    const r = m as ChildMessage;
    return r.type === 'result' && !r.result.ok ? `${r.result.kind}: ${r.result.error}` : undefined;
  });
}

/** What a transfer that could not be measured (its child failed or timed out) reports. */
/**
 * A child's result for the transfer it timed from `startedAt` (performance.now()) with
 * `cpuAtStart` (process.cpuUsage()) until now: its wall time, CPU and peak RSS.
 */
export function timedTransfer(
  kind: string,
  bytes: number,
  received: number,
  startedAt: number,
  cpuAtStart: NodeJS.CpuUsage,
  error: string | undefined,
): TransferResult {
  const cpu = process.cpuUsage(cpuAtStart);
  return {
    kind,
    bytes,
    received,
    seconds: (performance.now() - startedAt) / 1000,
    cpuUserSeconds: cpu.user / 1e6,
    cpuSystemSeconds: cpu.system / 1e6,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    ok: error === undefined,
    error,
  };
}

export function failedTransfer(kind: string, bytes: number, err: unknown): TransferResult {
  return {
    kind,
    bytes,
    received: 0,
    seconds: Number.NaN,
    cpuUserSeconds: Number.NaN,
    cpuSystemSeconds: Number.NaN,
    maxRssMiB: 0,
    ok: false,
    error: err instanceof Error ? err.message : String(err),
  };
}

/** Throughput in MB/s (10^6 bytes per second). */
export function mbPerSecond(r: TransferResult): number {
  return r.bytes / r.seconds / 1e6;
}

/** CPU-seconds (user + system) per GB (10^9 bytes) moved. */
export function cpuSecondsPerGB(r: TransferResult): number {
  return (r.cpuUserSeconds + r.cpuSystemSeconds) / (r.bytes / 1e9);
}

/** CPU time over wall time, in percent; above 100 means the work ran on more than one core. */
export function cpuShare(r: TransferResult): number {
  return ((r.cpuUserSeconds + r.cpuSystemSeconds) / r.seconds) * 100;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
