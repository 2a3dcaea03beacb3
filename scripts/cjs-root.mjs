/**
 * After tsup: the CommonJS entry points and their types, from the single CommonJS bundle
 * (dist/cjs.cjs) and the ESM build's declarations.
 *
 * - dist/index.cjs: utp-native's shape, `require('utpx')()` giving a UtpSocket, the module being
 *   the `utp` function with every export on it (`require('utpx').createServer`, …).
 * - dist/protocol.cjs, dist/sim.cjs: the subpaths.
 * - *.d.cts: the ESM declarations with relative imports pointing at .cjs; dist/index.d.cts is an
 *   `export =` of a function merged with a namespace of every export, so that
 *   `import utpx = require('utpx')` is callable in TypeScript too (the declarations themselves are
 *   in dist/index-api.d.cts).
 *
 * Plain Node (no TypeScript), so it runs on `prepare` from a fresh clone (`npm run build`).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const HEADER =
  '"use strict";\n// Written by scripts/cjs-root.mjs: the code is in cjs.cjs, shared by all three entry points.\n';

writeFileSync(
  join(dist, 'index.cjs'),
  `${HEADER}const { root } = require('./cjs.cjs');\n` +
    "// utp-native's shape: require('utpx') is the utp() function, carrying every export.\n" +
    'module.exports = Object.assign(root.utp, root);\n',
);
writeFileSync(join(dist, 'protocol.cjs'), `${HEADER}module.exports = require('./cjs.cjs').protocol;\n`);
writeFileSync(join(dist, 'sim.cjs'), `${HEADER}module.exports = require('./cjs.cjs').sim;\n`);

/** A .d.ts as a .d.cts: relative imports of './x.js' become './x.cjs' (resolving to ./x.d.cts). */
function toCts(text) {
  return text.replace(/(from\s+|import\s*\(\s*|import\s+)(['"])(\.\.?\/[^'"]+?)\.js\2/g, '$1$2$3.cjs$2');
}

for (const file of readdirSync(dist)) {
  if (!file.endsWith('.d.ts')) continue;
  const text = readFileSync(join(dist, file), 'utf8');
  const base = file.slice(0, -'.d.ts'.length);
  writeFileSync(join(dist, `${base === 'index' ? 'index-api' : base}.d.cts`), toCts(text));
}

const api = readFileSync(join(dist, 'index-api.d.cts'), 'utf8');
const names = new Set();
for (const m of api.matchAll(/export\s*\{([^}]*)\}/g)) {
  for (const part of (m[1] ?? '').split(',')) {
    const spec = part.trim().replace(/^type\s+/, '');
    if (spec === '') continue;
    const name = spec
      .split(/\s+as\s+/)
      .pop()
      ?.trim();
    if (name && name !== 'default') names.add(name);
  }
}
if (!names.has('utp') || !names.has('UtpSocketOptions')) throw new Error('cjs-root: unexpected dist/index.d.ts');
// Values (and classes) by alias; type-only exports, which an import alias cannot reference, as types.
const values = new Set(Object.keys(createRequire(import.meta.url)(join(dist, 'cjs.cjs')).root));
const members = [...names]
  .sort()
  .map((n) => (values.has(n) ? `  export import ${n} = api.${n};` : `  export type ${n} = api.${n};`))
  .join('\n');
writeFileSync(
  join(dist, 'index.d.cts'),
  `import * as api from './index-api.cjs';

/** utp-native's shape: \`require('utpx')()\` is a UtpSocket; every export is on it too. */
declare function utpx(opts?: api.UtpSocketOptions): api.UtpSocket;
declare namespace utpx {
${members}
}
export = utpx;
`,
);
