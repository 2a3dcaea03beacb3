/**
 * Builds the playground: web/src/main.ts bundled by esbuild into one classic (IIFE) script and
 * inlined, with web/style.css, into web/dist/index.html. One self-contained file, because module
 * scripts and fetch() do not work from file:// — the page must open from disk with no server.
 *
 *   npm run build:web        # → web/dist/index.html
 *
 * Fails if anything in the bundle imports a Node built-in: the simulator path must stay sans-IO.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const WEB_OUT = join(root, 'web', 'dist', 'index.html');

export async function buildWeb(): Promise<{ path: string; bytes: number }> {
  const result = await build({
    entryPoints: [join(root, 'web', 'src', 'main.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    metafile: true,
    legalComments: 'none',
    // xstate reads it for development-only warnings.
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
  });
  const nodeImports = Object.values(result.metafile.inputs)
    .flatMap((input) => input.imports)
    .filter((i) => i.path.startsWith('node:') || i.external);
  if (nodeImports.length > 0) {
    throw new Error(`the playground bundle imports ${nodeImports.map((i) => i.path).join(', ')}`);
  }
  const script = (result.outputFiles[0] as { text: string }).text
    // An inline script ends at the first "</script", wherever it is.
    .replace(/<\/script/gi, '<\\/script');
  const css = readFileSync(join(root, 'web', 'style.css'), 'utf8');
  const html = readFileSync(join(root, 'web', 'index.html'), 'utf8')
    .replace('/*__STYLE__*/', () => css)
    .replace('/*__SCRIPT__*/', () => script);
  mkdirSync(dirname(WEB_OUT), { recursive: true });
  writeFileSync(WEB_OUT, html);
  return { path: WEB_OUT, bytes: Buffer.byteLength(html) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { path, bytes } = await buildWeb();
  console.log(`${path} (${(bytes / 1024).toFixed(0)} KiB) — open it in a browser, no server needed`);
}
