import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** A UDP port that is very likely free: the kernel's pick for a throwaway TCP listener. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

it("the README's usage example runs as written and exits by itself", async () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(block, 'README has a ```ts block').toBeDefined();
  const port = await freePort();
  const code = (block as string)
    .replace("from 'utpx'", `from ${JSON.stringify(join(root, 'src/index.ts'))}`)
    .replaceAll('9000', String(port));
  const file = join(tmpdir(), `utpx-readme-${process.pid}.ts`);
  writeFileSync(file, code);
  const out = await new Promise<{ stdout: string; err: Error | null }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', file], { cwd: root, timeout: 30_000 }, (err, stdout) =>
      resolve({ stdout, err }),
    );
  });
  expect(out.err).toBeNull();
  expect(out.stdout.trim()).toBe('hello');
});

it("the README's inspector snippet is Node's: it runs without a browser window", async () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = /```js\n([^`]*@statelyai\/inspect[\s\S]*?)```/.exec(readme)?.[1];
  expect(block, 'README has the inspector snippet').toBeDefined();
  expect(block).not.toContain('createBrowserInspector');
  const port = await freePort();
  const code = [
    `import { createServer } from ${JSON.stringify(join(root, 'src/index.ts'))};`,
    'const onConnection = (s) => s.end();',
    (block as string)
      .replace(/^\s+/gm, '')
      .replaceAll('8080', String(port))
      // No browser in a test.
      .replace(`{ port: ${port} }`, `{ port: ${port}, autoOpen: false }`),
    'server.listen(0, "127.0.0.1", () => setTimeout(() => process.exit(0), 300));',
  ].join('\n');
  // Inside node_modules, so that @statelyai/inspect (an optional dependency) resolves.
  const dir = join(root, 'node_modules', '.cache');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `utpx-readme-inspect-${process.pid}.mts`);
  writeFileSync(file, code);
  const out = await new Promise<{ output: string; err: Error | null }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', file], { cwd: root, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ output: stdout + stderr, err }),
    );
  });
  rmSync(file, { force: true });
  expect(out.output).not.toMatch(/Window does not exist/);
  expect(out.err).toBeNull();
});
