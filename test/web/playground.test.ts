/**
 * The playground in a real browser: headless Chromium (Debian's `chromium`; playwright-core cannot
 * download browsers here) opens the built page from disk, plays the default scenario to the end
 * through the page's own controls, and checks the transfer, the charts and the plots against the
 * trace the page exports; then loads that trace and replays it. Run by `npm run test:web`
 * (test/web/vitest.config.ts), not by `npm test`. Screenshots go to a temp folder; the paths are
 * printed. CHROMIUM_PATH overrides the browser.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.js';
import { parseTrace, type Trace, type TraceEvent } from '../../src/trace/format.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const DEFAULT_BYTES = 1 << 20;

type PlotCounts = { data: Record<string, number>; acks: Record<string, number> };
type Summary = {
  kind: string;
  done: boolean;
  deliveredBytes?: number;
  expectedBytes?: number;
  deliveredCrc?: string;
  expectedCrc?: string;
  outcomes?: string[];
};

let ctx: BrowserContext;
let userData: string;
let shots: string;
let pageUrl: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  }
  const { path } = await buildWeb();
  pageUrl = pathToFileURL(path).href;
  userData = mkdtempSync(join(tmpdir(), 'utpx-chromium-'));
  shots = mkdtempSync(join(tmpdir(), 'utpx-playground-'));
  ctx = await chromium.launchPersistentContext(userData, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1440, height: 900 },
    acceptDownloads: true,
  });
});

afterAll(async () => {
  await ctx?.close();
  if (userData) rmSync(userData, { recursive: true, force: true });
});

async function open(): Promise<Page> {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
  await page.goto(pageUrl);
  return page;
}

const summary = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { utpx: { summary(): unknown } }).utpx.summary()) as Promise<Summary>;
const points = async (page: Page, id: string) =>
  JSON.parse((await page.getAttribute(`#${id}`, 'data-points')) ?? 'null');
/** The counters table's cell for `name` in column `col` (1 = A, 2 = B), as a number. */
async function counter(page: Page, name: string, col: number): Promise<number> {
  const text = await page.locator(`tr[data-counter="${name}"] td`).nth(col).first().textContent();
  return Number((text ?? '').replace(/,/g, ''));
}

/** What the plots must hold, computed from the exported trace itself (side A = the first conn seen). */
function expectedFromTrace(trace: Trace) {
  const peer = (conn: string) => conn.slice(0, conn.lastIndexOf('/'));
  const sides = [...new Set(trace.events.map((e) => peer(e.conn)))];
  const of = (side: string) => trace.events.filter((e) => peer(e.conn) === side);
  const a = of(sides[0] as string);
  const firstData = a.findIndex((e) => e.name === 'packet_sent' && e.data.type === 'DATA');
  const is = (e: TraceEvent, name: TraceEvent['name']) => e.name === name;
  return {
    sides,
    dataA: a.filter((e) => e.name === 'packet_sent' && e.data.type === 'DATA').length,
    acksA: a.filter((e, i) => i > firstData && is(e, 'packet_received')).length,
    metricsA: a.filter((e) => is(e, 'metrics_updated')).length,
    sent: sides.map((s) => of(s).filter((e) => is(e, 'packet_sent')).length),
    dropped: trace.events.filter((e) => is(e, 'packet_dropped')).length,
  };
}

async function chartsAt(page: Page, state: string): Promise<void> {
  for (const side of ['A', 'B']) {
    const chart = page.locator(`.chart[data-side="${side}"]`);
    expect(await chart.getAttribute('data-state')).toBe(state);
    // Exactly the final state is lit, nothing else.
    expect(
      await chart
        .locator('.state.active')
        .evaluateAll((els) => els.map((e) => (e as unknown as { dataset: { path?: string } }).dataset.path)),
    ).toEqual([state]);
  }
}

describe('playground in Chromium', () => {
  let exported = '';
  let exportedText = '';
  let livePlots: unknown;

  it('plays the default scenario to the end: every byte delivered, both charts closed, plots match the trace', async () => {
    const page = await open();
    expect(await page.title()).toContain('utpx playground');
    // The chart is drawn from the machine: every state node is there before anything runs.
    expect(await page.locator('.chart[data-side="A"] .state').count()).toBe(20);
    await page.selectOption('#speed', '20');
    await page.click('#play');
    await page.waitForSelector('#status[data-done="true"]', { timeout: 60_000 });

    const s = await summary(page);
    expect(s.done).toBe(true);
    expect(s.expectedBytes).toBe(DEFAULT_BYTES);
    expect(s.deliveredBytes).toBe(DEFAULT_BYTES);
    expect(s.deliveredCrc).toBe(s.expectedCrc);
    expect(s.outcomes).toEqual(['closed', 'closed']);
    expect(await counter(page, 'bytes delivered', 2)).toBe(DEFAULT_BYTES);
    expect(await page.textContent('#outcome')).toContain('delivered intact');
    await chartsAt(page, 'closed');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
    expect(download.suggestedFilename()).toMatch(/^utpx-.*\.jsonl$/);
    exported = join(shots, download.suggestedFilename());
    await download.saveAs(exported);
    exportedText = readFileSync(exported, 'utf8');
    const trace = parseTrace(exportedText);
    const want = expectedFromTrace(trace);
    expect(want.sides.length).toBe(2);
    // The default scenario shows what it promises: a drop, a retransmission, a SACK, a FIN each way.
    expect(want.dropped).toBeGreaterThan(0);
    expect(trace.events.some((e) => e.name === 'packet_sent' && e.data.retransmit)).toBe(true);
    expect(trace.events.some((e) => e.name === 'packet_received' && (e.data.sack?.length ?? 0) > 0)).toBe(true);
    expect(trace.events.filter((e) => e.name === 'packet_sent' && e.data.type === 'FIN').length).toBe(2);

    // The export's packets are the connections' own counts (stats().packetsSent) and the links' drops.
    expect(want.sent).toEqual([await counter(page, 'packets sent', 1), await counter(page, 'packets sent', 2)]);
    const drops =
      (await counter(page, 'lost (random)', 1)) +
      (await counter(page, 'lost (random)', 2)) +
      (await counter(page, 'dropped (queue full)', 1)) +
      (await counter(page, 'dropped (queue full)', 2));
    expect(want.dropped).toBe(drops);

    // Plots: one time–sequence point per DATA packet A sent, one ack point per packet A received
    // after that, one cwnd and one delay sample per metrics_updated of A.
    const ts = (await points(page, 'timeseq')) as PlotCounts;
    expect(ts.data).toEqual({ A: want.dataA });
    expect(ts.acks).toEqual({ A: want.acksA });
    expect(await points(page, 'cwnd')).toEqual({ A: want.metricsA });
    expect(await points(page, 'delay')).toEqual({ A: want.metricsA });
    expect(want.dataA).toBeGreaterThan(DEFAULT_BYTES / 1500);
    livePlots = { ts, cwnd: await points(page, 'cwnd') };

    const shot = join(shots, 'playground-live-end.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('steps to the next packet event', async () => {
    const page = await open();
    const before = await page.evaluate(
      () => (globalThis as unknown as { utpx: { summary(): { events: number } } }).utpx.summary().events,
    );
    await page.click('#step');
    await expect.poll(() => page.textContent('#clock')).toMatch(/^t = 20\.\d ms$/);
    const after = await page.evaluate(
      () => (globalThis as unknown as { utpx: { summary(): { events: number } } }).utpx.summary().events,
    );
    expect(after).toBeGreaterThan(before);
    // The SYN reached B, whose SYN queue answered it: no connection (no chart state) on B yet.
    expect(await page.getAttribute('.chart[data-side="B"]', 'data-state')).toBe('');
    // Two more packet events (the SYN-ACK at A, A's ack of it at B): B's connection exists, connected.
    await page.click('#step');
    await expect.poll(() => page.textContent('#clock')).toMatch(/^t = 4\d\.\d ms$/);
    await page.click('#step');
    await expect.poll(() => page.textContent('#clock')).toMatch(/^t = 6\d\.\d ms$/);
    expect(await page.getAttribute('.chart[data-side="B"]', 'data-state')).toMatch(/^connected\./);
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('loads the exported trace and replays it to the same end', async () => {
    expect(exported).not.toBe('');
    const page = await open();
    await page.setInputFiles('#load', exported);
    await expect.poll(() => page.textContent('#title')).toContain('replay');
    await page.click('#end');
    await page.waitForSelector('#status[data-done="true"]');
    await chartsAt(page, 'closed');
    const s = await summary(page);
    expect(s.kind).toBe('replay');
    expect({ ts: await points(page, 'timeseq'), cwnd: await points(page, 'cwnd') }).toEqual(livePlots);
    // Exported again, the replay is the same trace.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
    const again = join(shots, 'replayed.jsonl');
    await download.saveAs(again);
    expect(readFileSync(again, 'utf8')).toBe(exportedText);
    const shot = join(shots, 'playground-replay-end.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);

    // A file that is not a trace is refused with the parser's message; the page keeps working.
    await page.setInputFiles('#load', { name: 'bad.jsonl', mimeType: 'text/plain', buffer: Buffer.from('{"x":1}\n') });
    await expect.poll(() => page.textContent('#outcome')).toContain('not a utpx-trace file');
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
