/**
 * The package as npm users get it: `npm pack` of a fresh checkout (no dist/, as a clone has none;
 * the build runs on prepare), unpacked into a fresh project's node_modules, then used from there:
 * ESM and CommonJS, the root and both subpaths, the README example, and the types under the
 * module resolutions TypeScript users have. Offline: the project's only dependency (xstate) and
 * the TypeScript tooling are linked from this checkout's node_modules.
 */
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'utpx-pack-'));
const checkout = join(dir, 'checkout');
const app = join(dir, 'app');
let files: string[] = [];
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  mkdirSync(checkout);
  for (const f of [
    'package.json',
    'tsconfig.json',
    'tsup.config.ts',
    'README.md',
    'LICENSE-MIT',
    'LICENSE-APACHE',
    'src',
    'docs',
    'scripts/cjs-root.mjs',
  ]) {
    cpSync(join(ROOT, f), join(checkout, f), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'), 'dir');
  const out = execFileSync('npm', ['pack', '--json', '--silent', '--pack-destination', dir], {
    cwd: checkout,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The prepack build's log comes first on stdout, coloured when CI is set (its escape codes hold
  // '['): the report is the JSON array that starts on a line of its own.
  const start = out.search(/^\[\s*$/m);
  if (start < 0) throw new Error(`npm pack printed no JSON report:\n${out}`);
  const report = JSON.parse(out.slice(start)) as { filename: string; files: { path: string }[] }[];
  files = (report[0]?.files ?? []).map((f) => f.path);
  // A fresh project with the tarball unpacked as its dependency, as `npm install utpx` leaves it.
  mkdirSync(join(app, 'node_modules', '@types'), { recursive: true });
  execFileSync('tar', ['-xzf', join(dir, report[0]?.filename as string), '-C', join(app, 'node_modules')]);
  execFileSync('mv', [join(app, 'node_modules', 'package'), join(app, 'node_modules', 'utpx')]);
  symlinkSync(join(ROOT, 'node_modules', 'xstate'), join(app, 'node_modules', 'xstate'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(app, 'node_modules', '@types', 'node'), 'dir');
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
}, 180_000);

/** A UDP port that is very likely free: the kernel's pick for a throwaway TCP listener. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function run(file: string, args: string[] = []): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(process.execPath, [...args, file], { cwd: app, timeout: 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${file}: ${err.message}\n${stderr}`)) : resolvePromise(stdout.trim()),
    );
  });
}

describe('npm pack of a checkout without dist/', () => {
  it('ships the built ESM and CJS entry points of the root and both subpaths, their types and docs/', () => {
    for (const f of [
      'dist/index.js',
      'dist/index.cjs',
      'dist/index.d.ts',
      'dist/index.d.cts',
      'dist/protocol.js',
      'dist/protocol.cjs',
      'dist/protocol.d.ts',
      'dist/protocol.d.cts',
      'dist/sim.js',
      'dist/sim.cjs',
      'dist/sim.d.ts',
      'dist/sim.d.cts',
      'dist/cli.js',
      'docs/trace.md',
      'docs/design.md',
      'docs/statecharts/connection.md',
      'README.md',
      'LICENSE-MIT',
      'LICENSE-APACHE',
    ]) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('src/'))).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(app, 'node_modules/utpx/package.json'), 'utf8'));
    expect(pkg.repository?.url).toMatch(/github\.com/);
    expect(pkg.homepage).toBeTruthy();
    expect(pkg.bugs?.url).toBeTruthy();
  });

  it('every link the README gives npm users exists in the tarball', () => {
    const readme = readFileSync(join(app, 'node_modules/utpx/README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(((?!https?:|#)[^)\s]+)\)/g)].map((m) => (m[1] as string).split('#')[0]);
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) {
      // Links into the repository (not shipped) are absolute URLs; relative ones must be in the package.
      expect(files, `README links ${link}`).toContain(link);
    }
  });

  it('require() and import of utpx, utpx/protocol and utpx/sim; require("utpx")() is a UtpSocket', async () => {
    writeFileSync(
      join(app, 'cjs.cjs'),
      `const utpx = require('utpx');
const sock = utpx();
const protocol = require('utpx/protocol');
const sim = require('utpx/sim');
console.log(JSON.stringify({
  callable: typeof utpx,
  socket: sock instanceof utpx.UtpSocket,
  createServer: typeof utpx.createServer,
  connect: typeof utpx.connect,
  defaultIsUtp: utpx.default === utpx.utp,
  endpoint: typeof protocol.Endpoint,
  header: typeof protocol.PacketHeader,
  sim: typeof sim.SimNetwork,
}));
sock.close();
`,
    );
    writeFileSync(
      join(app, 'esm.mjs'),
      `import utp, { createServer, connect, UtpSocket } from 'utpx';
import { Endpoint, PacketHeader } from 'utpx/protocol';
import { SimNetwork } from 'utpx/sim';
const sock = utp();
console.log(JSON.stringify({
  callable: typeof utp,
  socket: sock instanceof UtpSocket,
  createServer: typeof createServer,
  connect: typeof connect,
  endpoint: typeof Endpoint,
  header: typeof PacketHeader,
  sim: typeof SimNetwork,
}));
sock.close();
`,
    );
    const cjs = JSON.parse(await run('cjs.cjs'));
    expect(cjs).toEqual({
      callable: 'function',
      socket: true,
      createServer: 'function',
      connect: 'function',
      defaultIsUtp: true,
      endpoint: 'function',
      header: 'function',
      sim: 'function',
    });
    const esm = JSON.parse(await run('esm.mjs'));
    expect(esm).toEqual({
      callable: 'function',
      socket: true,
      createServer: 'function',
      connect: 'function',
      endpoint: 'function',
      header: 'function',
      sim: 'function',
    });
  });

  it("the README's example runs as ESM and as CommonJS and exits by itself", async () => {
    const readme = readFileSync(join(app, 'node_modules/utpx/README.md'), 'utf8');
    const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] as string;
    expect(block).toContain("from 'utpx'");
    const esm = block.replaceAll('9000', String(await freePort()));
    writeFileSync(join(app, 'readme.mjs'), esm);
    expect(await run('readme.mjs')).toBe('hello');
    const cjs = block
      .replaceAll('9000', String(await freePort()))
      .replace(/import \{([^}]*)\} from 'utpx';/, "const {$1} = require('utpx');");
    expect(cjs).toContain("require('utpx')");
    writeFileSync(join(app, 'readme.cjs'), cjs);
    expect(await run('readme.cjs')).toBe('hello');
  });

  it('types resolve under moduleResolution node16, nodenext, bundler (and node10 for the root)', () => {
    writeFileSync(
      join(app, 'esm.mts'),
      `import utp, { connect, createServer, type Socket, type SocketStats, type UtpSocket } from 'utpx';
import { Endpoint, PacketHeader, type ConnectionOptions } from 'utpx/protocol';
import { SimNetwork } from 'utpx/sim';
const sock: UtpSocket = utp({ maxPacketSize: 1200 });
const server = createServer((s: Socket) => s.end());
server.on('connection', (s) => { const stats: SocketStats = s.stats(); void stats.cwnd; });
const c: Socket = connect(1, '127.0.0.1', () => {});
c.on('close', (hadError) => { const b: boolean = hadError; void b; });
const o: ConnectionOptions = { recvWindowBytes: 1 << 20 };
void [sock, server, Endpoint, PacketHeader, SimNetwork, o];
`,
    );
    writeFileSync(
      join(app, 'cjs.cts'),
      `import utpx = require('utpx');
import protocol = require('utpx/protocol');
import sim = require('utpx/sim');
const sock: utpx.UtpSocket = utpx();
const server: utpx.Server = utpx.createServer();
const c: utpx.Socket = utpx.connect({ port: 1 });
const stats: utpx.SocketStats = c.stats();
const net = new sim.SimNetwork({ seed: 1 });
void [sock, server, stats, net, protocol.Endpoint];
`,
    );
    writeFileSync(
      join(app, 'bundler.ts'),
      `import utp, { connect, type SocketStats } from 'utpx';
import { Endpoint } from 'utpx/protocol';
import { SimNetwork } from 'utpx/sim';
const stats: SocketStats = connect(1).stats();
void [utp(), stats, Endpoint, SimNetwork];
`,
    );
    writeFileSync(
      join(app, 'node10.ts'),
      `import utp, { connect, type SocketStats } from 'utpx';
const stats: SocketStats = connect(1).stats();
void [utp(), stats];
`,
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const check = (name: string, options: Record<string, unknown>, include: string[]) => {
      const config = join(app, `tsconfig.${name}.json`);
      writeFileSync(
        config,
        JSON.stringify({
          compilerOptions: { strict: true, noEmit: true, skipLibCheck: false, types: ['node'], ...options },
          files: include,
        }),
      );
      try {
        execFileSync(process.execPath, [tsc, '-p', config], { cwd: app, encoding: 'utf8', stdio: 'pipe' });
      } catch (err) {
        throw new Error(`${name}: ${(err as { stdout?: string }).stdout ?? err}`);
      }
    };
    // Our declaration files are checked in full once (both flavours); the other resolutions only
    // need to find them (checking @types/node four times would cost ~20 s).
    check('node16', { module: 'node16', moduleResolution: 'node16' }, ['esm.mts', 'cjs.cts']);
    const quick = { skipLibCheck: true };
    check('nodenext', { module: 'nodenext', moduleResolution: 'nodenext', ...quick }, ['esm.mts', 'cjs.cts']);
    check('bundler', { module: 'esnext', moduleResolution: 'bundler', ...quick }, ['bundler.ts']);
    check('node10', { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true, ...quick }, ['node10.ts']);
  }, 120_000);
});
