/**
 * `npm pack` of a fresh checkout must ship a built package: a git install or a packed tarball
 * gets no dist/ unless the build runs on prepare/prepack. The checkout is copied without dist/
 * (as a fresh clone has none) and packed there.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'utpx-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm pack of a checkout without dist/', () => {
  it('builds on prepare and ships the ESM and CJS entry points with their types', () => {
    for (const f of [
      'package.json',
      'tsconfig.json',
      'tsup.config.ts',
      'README.md',
      'LICENSE-MIT',
      'LICENSE-APACHE',
      'src',
    ]) {
      cpSync(join(ROOT, f), join(dir, f), { recursive: true });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--silent'], {
      cwd: dir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const report = JSON.parse(out.slice(out.indexOf('['))) as { files: { path: string }[] }[];
    const files = (report[0]?.files ?? []).map((f) => f.path);
    for (const f of [
      'dist/index.js',
      'dist/index.cjs',
      'dist/index.d.ts',
      'dist/index.d.cts',
      'README.md',
      'LICENSE-MIT',
    ]) {
      expect(files, f).toContain(f);
    }
  }, 120_000);
});
