import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The playground's browser test needs Chromium: `npm run test:web` runs it (test/web/vitest.config.ts).
    exclude: [...configDefaults.exclude, 'test/web/playground.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // The JSON report lets .ci/run print a plain "N passed, N failed" line.
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-results.json' },
    // Tests print measurements (stats, throughput, summaries) with console.log; `npm test` shows
    // them only with UTPX_VERBOSE=1. Failures carry their own messages; console.error/warn always show.
    onConsoleLog: (_log, type) => (type === 'stdout' && !process.env.UTPX_VERBOSE ? false : undefined),
  },
});
