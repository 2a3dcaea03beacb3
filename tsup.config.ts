import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    // The two builds run at once: this one's clean must not delete the CLI's output.
    clean: ['!cli.js', '!cli.js.map'],
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
