/**
 * Running `utpx` as a subprocess: src/cli/main.ts through tsx, so the tests need no build and never
 * run a stale dist/. Every child is tracked and killed by `killAll()` (afterEach), so a failing test
 * leaves nothing behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
const main = join(root, 'src/cli/main.ts');
const children = new Set<ChildProcess>();

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  /** Resolves when the process has exited and its output is complete. */
  result: Promise<CliResult>;
  /** Resolves with stderr so far once it matches `re`; rejects if the process exits first. */
  waitForStderr(re: RegExp): Promise<RegExpMatchArray>;
}

export interface CliOptions {
  /** Written to stdin, which is then closed. Without it stdin is /dev/null. */
  input?: Buffer | string;
  /** Keep stdin open (a pipe nobody writes to), as a terminal would. */
  openStdin?: boolean;
}

export function startCli(args: string[], opts: CliOptions = {}): CliProcess {
  const stdin = opts.input !== undefined || opts.openStdin ? 'pipe' : 'ignore';
  // cwd is the repository so `--import tsx` resolves; every file argument is absolute.
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], {
    cwd: root,
    stdio: [stdin, 'pipe', 'pipe'],
  });
  children.add(child);
  const out: Buffer[] = [];
  let err = '';
  const waiters: Array<() => void> = [];
  child.stdout?.on('data', (d: Buffer) => out.push(d));
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    err += d;
    for (const w of waiters.splice(0)) w();
  });
  if (opts.input !== undefined) child.stdin?.end(opts.input);
  const result = new Promise<CliResult>((resolve) => {
    child.once('close', (code, signal) => {
      children.delete(child);
      for (const w of waiters.splice(0)) w();
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err });
    });
  });
  let exited = false;
  void result.then(() => {
    exited = true;
  });
  return {
    child,
    result,
    waitForStderr(re) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = re.exec(err);
          if (m) resolve(m);
          else if (exited || child.exitCode !== null) reject(new Error(`utpx exited before ${re}: ${err}`));
          else waiters.push(check);
        };
        check();
      });
    },
  };
}

export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return startCli(args, opts).result;
}

/** `utpx listen` on 127.0.0.1, any free port; resolves once it is listening. */
export async function startListen(args: string[], opts: CliOptions = {}): Promise<CliProcess & { port: number }> {
  const p = startCli(['listen', '--host', '127.0.0.1', ...args], opts);
  const m = await p.waitForStderr(/listening on 127\.0\.0\.1:(\d+)/);
  return { ...p, port: Number(m[1]) };
}

export function killAll(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'utpx-cli-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
