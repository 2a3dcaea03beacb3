import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // ESM: the package root (the Node API) and its subpaths utpx/protocol and utpx/sim, with their
    // types. Shared code goes into chunks, so a class is one class whichever subpath it came from.
    entry: { index: 'src/index.ts', protocol: 'src/protocol.ts', sim: 'src/sim/index.ts' },
    format: ['esm'],
    splitting: true,
    // Members marked @internal (the wiring between sockets and their UDP port) stay out of the types.
    dts: { compilerOptions: { stripInternal: true } },
    sourcemap: true,
    // The builds run at once: this one's clean must not delete the others' output.
    clean: ['!cli.js', '!cli.js.map', '!cjs.cjs', '!cjs.cjs.map'],
    target: 'node20',
    external: ['xstate'],
  },
  {
    // CommonJS: one bundle holding all three (esbuild cannot split CommonJS, and tsup's fallback
    // rewrites classes and optional chaining); scripts/cjs-root.mjs writes index.cjs, protocol.cjs
    // and sim.cjs, which require it, and their .d.cts.
    entry: { cjs: 'src/cjs.ts' },
    format: ['cjs'],
    sourcemap: true,
    clean: false,
    target: 'node20',
    external: ['xstate'],
  },
  {
    // The `utpx` bin. The shebang comes from src/cli/main.ts (esbuild keeps an entry's hashbang).
    entry: { cli: 'src/cli/main.ts' },
    format: ['esm'],
    sourcemap: true,
    clean: false,
    target: 'node20',
    external: ['xstate', '@statelyai/inspect'],
  },
]);
