import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
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
