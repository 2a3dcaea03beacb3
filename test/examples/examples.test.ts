/**
 * Runs every example in examples/ as a user would (`npx tsx examples/<name>.ts`, on loopback) and
 * checks what it prints. The examples import `utpx`, `utpx/sim` by name; examples/tsconfig.json maps
 * those names to src/, so this tests the code in the working tree, not a stale build.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(
  name: string,
  args: string[] = [],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(TSX, ['--tsconfig', 'examples/tsconfig.json', `examples/${name}`, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d;
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  return { child, done };
}

async function run(name: string, args: string[] = [], env: Record<string, string> = {}): Promise<Run> {
  const r = await start(name, args, env).done;
  expect(r.code, `${name} exited with ${r.code}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('examples', () => {
  it('echo-server: the client gets its lines back', async () => {
    const { stdout } = await run('echo-server.ts');
    expect(stdout).toContain('echoed back: hello over uTP\ngoodbye\n');
    expect(stdout).toContain('server closed');
  });

  it('file-transfer: progress to 100 % and the same sha256 at both ends', async () => {
    const { stdout } = await run('file-transfer.ts');
    expect(stdout).toMatch(/progress: 100 % \(8388608 of 8388608 bytes\)/);
    expect(stdout).toContain('sha256 matches');
  });

  it('async-iterator: three connections served by one for-await loop, which ends', async () => {
    const { stdout } = await run('async-iterator.ts');
    for (const n of [1, 2, 3]) expect(stdout).toContain(`client ${n} got: hello, client ${n}`);
    expect(stdout).toContain('server: served 3 connections');
  });

  it('one-port: each peer listens, connects out and exchanges plain datagrams on one port', async () => {
    const { stdout } = await run('one-port.ts');
    const ports = /alice listens on (\d+), bob on (\d+)/.exec(stdout);
    expect(ports).not.toBeNull();
    expect(stdout).toContain(`alice connected out from port ${ports?.[1]}, bob from port ${ports?.[2]}`);
    expect(stdout).toContain('alice got a plain datagram: punch from bob');
    expect(stdout).toContain('bob got a plain datagram: punch from alice');
    expect(stdout).toContain('bob accepted a connection and got: hi bob, from alice');
    expect(stdout).toContain('alice accepted a connection and got: hi alice, from bob');
  });

  it('sim-loss: 256 KiB intact through 10 % loss, the same run for the same seed', async () => {
    const a = await run('sim-loss.ts', ['7']);
    expect(a.stdout).toContain('seed 7: 262144 bytes intact through 10 % loss');
    const lost = /network lost (\d+) of (\d+)/.exec(a.stdout);
    expect(Number(lost?.[1])).toBeGreaterThan(0);
    const b = await run('sim-loss.ts', ['7']);
    const deterministic = (s: string) => s.replace(/in \d+ ms/, '');
    expect(deterministic(b.stdout)).toBe(deterministic(a.stdout));
  });

  it("inspector: the connections' actor events reach the Stately inspector's WebSocket", async () => {
    const require = createRequire(import.meta.url);
    let WebSocket: new (
      url: string,
    ) => {
      on(event: string, fn: (...args: unknown[]) => void): void;
      close(): void;
    };
    try {
      require.resolve('@statelyai/inspect');
      WebSocket = require('ws');
    } catch {
      console.warn('@statelyai/inspect (an optional dependency) is not installed: inspector example not run');
      return;
    }
    const port = await freePort();
    const { child, done } = start('inspector.ts', [], { INSPECT_PORT: String(port), EXAMPLE_CONNECTIONS: '2' });
    // Wait for the page to be served, then listen on its WebSocket as the inspector page would.
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        if (String(d).includes('Stately inspector at')) resolve();
      };
      child.stdout?.on('data', onData);
      child.once('close', () => reject(new Error('the example exited before serving the inspector')));
    });
    const page = await fetch(`http://localhost:${port}`);
    expect(page.status).toBe(200);
    const messages: string[] = [];
    const ws = new WebSocket(`ws://localhost:${port}`);
    ws.on('message', (data: unknown) => messages.push(String(data)));
    ws.on('error', () => {});
    // The bridge's server does not close its clients: we hang up once the example says it is done,
    // so it can exit.
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('echoed: connection 2')) setTimeout(() => ws.close(), 300);
    });
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('echoed: connection 2');
    const events = messages.join('\n');
    // Actor registrations and snapshots of the lifecycle chart ('utp'), with its states.
    expect(events).toContain('@xstate.actor');
    expect(events).toContain('@xstate.snapshot');
    expect(events).toContain('synSent');
    expect(events).toContain('closed');
  });
});
