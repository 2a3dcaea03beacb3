import { type ChildProcess, fork } from 'node:child_process';

/** A bench child (a .ts file run through tsx) with an IPC channel; killed after `timeoutMs`. */
export function forkChild(file: string, args: string[], timeoutMs = 120_000, env?: NodeJS.ProcessEnv): ChildProcess {
  const child = fork(file, args, {
    execArgv: ['--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    ...(env ? { env } : {}),
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  child.once('exit', () => clearTimeout(timer));
  return child;
}

/**
 * The child's next IPC message whose `type` is `type`. Rejects on an early exit, or on a message
 * `failure` names an error for (by default an 'error' message, with its `message`).
 */
export function nextMessage<T extends { type: string }>(
  child: ChildProcess,
  type: string,
  failure: (m: { type: string; message?: string }) => string | undefined = (m) =>
    m.type === 'error' ? (m.message ?? 'child failed') : undefined,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string; message?: string }): void => {
      if (m.type === type) {
        cleanup();
        resolve(m as unknown as T);
        return;
      }
      const error = failure(m);
      if (error !== undefined) {
        cleanup();
        reject(new Error(error));
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`child exited (${signal ?? code}) before sending '${type}'`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

/**
 * In a bench child: send `m` to the parent over IPC (or print it as a JSON line when run by hand),
 * then exit with `exitAfter` once it is sent, if given.
 */
export function postToParent(m: unknown, exitAfter?: number): void {
  const send = process.send?.bind(process);
  if (send === undefined) {
    console.log(JSON.stringify(m));
    if (exitAfter !== undefined) process.exit(exitAfter);
    return;
  }
  send(m, () => {
    if (exitAfter !== undefined) process.exit(exitAfter);
  });
}
