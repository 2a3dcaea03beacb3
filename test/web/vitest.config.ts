import { defineConfig } from 'vitest/config';

/**
 * `npm run test:web`: the playground in headless Chromium (test/web/playground.test.ts). Kept out of
 * the main `npm test` run, which must not need a browser; .ci/run runs both.
 */
export default defineConfig({
  test: {
    include: ['test/web/playground.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-web-results.json' },
  },
});
