/**
 * The committed generated files match the code: `npm run docs` regenerates the chart pages, the
 * walkthrough in docs/protocol.md and its pictures, the code links' line ranges and the API
 * reference (scripts/docs.ts); this test regenerates all of it in memory and compares. When it
 * fails: `npm run docs`, look at the diff, commit.
 */
import { describe, expect, it } from 'vitest';
import { generateDocs, staleFiles } from '../../scripts/docs.js';

describe('generated docs', () => {
  let first: Map<string, string> | undefined;

  it('are up to date (run `npm run docs` and commit if not)', async () => {
    const files = await generateDocs();
    first = files;
    expect(files.has('docs/protocol.md')).toBe(true);
    expect(files.has('docs/api/README.md')).toBe(true);
    expect(staleFiles(files)).toEqual([]);
  }, 120_000);

  it('are the same on a second run (deterministic)', async () => {
    const a = first ?? (await generateDocs());
    const b = await generateDocs();
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [path, text] of a) expect(b.get(path), path).toBe(text);
  }, 120_000);
});
