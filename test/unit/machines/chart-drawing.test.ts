import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { chartPage, drawChart } from '../../../scripts/draw-chart.js';

describe('docs/statecharts', () => {
  it('the committed drawing matches the chart in the code (run `npx tsx scripts/draw-chart.ts` if not)', () => {
    const mermaid = drawChart();
    expect(readFileSync(new URL('../../../docs/statecharts/connection.mmd', import.meta.url), 'utf8')).toBe(mermaid);
    expect(readFileSync(new URL('../../../docs/statecharts/connection.md', import.meta.url), 'utf8')).toBe(
      chartPage(mermaid),
    );
  });

  it('draws every final outcome and the parallel regions', () => {
    const mermaid = drawChart();
    for (const s of ['closed', 'reset', 'timedOut', 'refused', 'destroyed']) expect(mermaid).toContain(`${s} --> [*]`);
    for (const r of ['connected_send', 'connected_receive', 'connected_liveness'])
      expect(mermaid).toContain(`state ${r} {`);
    expect(mermaid).toContain('connecting_synSent --> connecting_synSent : after synRto [canRetrySyn] / backoffSyn');
  });
});
