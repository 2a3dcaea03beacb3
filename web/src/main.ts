/**
 * The page: one run at a time (live or a replayed trace), a TraceModel derived from its events, and
 * the views redrawn from both on every animation frame in which something moved. Play advances the
 * run's virtual clock by the wall time since the last frame times the speed factor.
 */
import { chartOutline } from './chart-outline.js';
import { counterSections } from './counters.js';
import { stateName, type Trace } from './engine.js';
import { LiveRun } from './live-run.js';
import { TraceModel } from './model.js';
import { ReplayRun } from './replay-run.js';
import type { Run } from './run.js';
import { DEFAULT_SCENARIO, type Scenario } from './scenario.js';
import { readTrace, traceFileName, traceText } from './trace-io.js';
import { ChartView } from './views/chart.js';
import { ScenarioForm } from './views/controls.js';
import { drawLadder } from './views/ladder.js';
import { LogView } from './views/log.js';
import { drawCwnd, drawDelay } from './views/metrics.js';
import { niceCeil } from './views/plot.js';
import type { Viewport } from './views/style.js';
import { CountersView } from './views/table.js';
import { timeArea } from './views/time-axis.js';
import { drawTimeSequence, type TimeSeqCounts } from './views/time-sequence.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const outline = chartOutline();
const ladder = $<HTMLCanvasElement>('ladder');
const timeseq = $<HTMLCanvasElement>('timeseq');
const timeseqZoom = $<HTMLCanvasElement>('timeseq-zoom');
const cwnd = $<HTMLCanvasElement>('cwnd');
const delay = $<HTMLCanvasElement>('delay');
const playButton = $<HTMLButtonElement>('play');
const followButton = $<HTMLButtonElement>('follow');
const speedSelect = $<HTMLSelectElement>('speed');
const windowSelect = $<HTMLSelectElement>('window');
const counters = new CountersView($('counters'));
const log = new LogView($('log'));
const form = new ScenarioForm($<HTMLFormElement>('scenario'), (s) => startLive(s));

let run: Run;
let model: TraceModel;
let charts: ChartView[] = [];
let loaded: Trace | undefined;
let playing = false;
/** The moment the ladder looks at after a click on a plot; undefined = follow the run. */
let focus: number | undefined;
let dirty = true;
let lastFrame = 0;
let last: { timeseq: TimeSeqCounts; cwnd: Record<string, number>; delay: Record<string, number> } | undefined;

function startLive(s: Scenario): void {
  loaded = undefined;
  begin(new LiveRun(s));
}

function startReplay(trace: Trace): void {
  loaded = trace;
  begin(new ReplayRun(trace));
}

function begin(r: Run): void {
  run = r;
  model = new TraceModel();
  focus = undefined;
  setPlaying(false);
  const container = $('charts');
  container.replaceChildren();
  charts = ['A', 'B'].map((label) => new ChartView(container, outline, label));
  $('title').textContent = `${r.header.title ?? 'trace'}${r.kind === 'replay' ? ' — replay' : ''}`;
  dirty = true;
}

function setPlaying(on: boolean): void {
  playing = on && !run.done;
  playButton.textContent = playing ? '❚❚ Pause' : '▶ Play';
  if (playing) focus = undefined;
  dirty = true;
}

function viewport(): Viewport {
  const now = run.now;
  const end = run instanceof ReplayRun ? run.endTime : now;
  const xMax = niceCeil(Math.max(end, 100_000) * 1.02);
  const w = Number(windowSelect.value);
  let from: number;
  if (focus !== undefined) from = Math.max(0, focus - w / 2);
  else from = Math.max(0, now - w);
  return { now, xMax, ladderFrom: from, ladderTo: from + w, done: run.done };
}

function render(): void {
  if (model.update(run.events)) dirty = true;
  if (!dirty) return;
  dirty = false;
  const vp = viewport();
  drawLadder(ladder, model, vp, run.kind === 'live' ? 'B' : 'peer');
  drawTimeSequence(timeseqZoom, model, vp, true);
  last = {
    timeseq: drawTimeSequence(timeseq, model, vp),
    cwnd: drawCwnd(cwnd, model, vp),
    delay: drawDelay(delay, model, vp),
  };
  renderCharts();
  counters.render(counterSections(run, model));
  log.render(model, focus === undefined ? vp.now : vp.ladderTo);
  renderStatus(vp);
  followButton.hidden = focus === undefined;
}

function renderCharts(): void {
  charts.forEach((chart, i) => {
    const side = model.sides[i];
    const change = side?.states[side.states.length - 1];
    let state = side?.state ?? '';
    // Live: the actor's own snapshot; a replay has only the trace's state strings.
    if (run instanceof LiveRun) {
      const conn = (i === 0 ? run.a : run.b).conn;
      state = conn === undefined ? '' : stateName(conn.state);
    }
    chart.set(state, change?.trigger, change?.time);
  });
}

function renderStatus(vp: Viewport): void {
  $('clock').textContent = `t = ${(vp.now / 1000).toFixed(1)} ms`;
  const outcome = $('outcome');
  const bar = $('progress-bar');
  const status = $('status');
  status.dataset.done = String(run.done);
  if (run instanceof LiveRun) {
    const sides = [run.b, run.a].filter((s) => s.expectBytes > 0);
    const want = sides.reduce((t, s) => t + s.expectBytes, 0);
    const got = sides.reduce((t, s) => t + s.delivered, 0);
    bar.style.width = `${want === 0 ? 100 : (100 * got) / want}%`;
    if (!run.done) {
      outcome.textContent = `${got.toLocaleString('en-US')} of ${want.toLocaleString('en-US')} bytes delivered`;
      outcome.className = '';
    } else {
      const ok = sides.every((s) => s.complete) && run.a.conn?.outcome === 'closed' && run.b.conn?.outcome === 'closed';
      outcome.textContent = ok
        ? `✓ done: ${got.toLocaleString('en-US')} bytes delivered intact (CRC-32 matches), both sides closed`
        : `✗ ended: ${got.toLocaleString('en-US')} of ${want.toLocaleString('en-US')} bytes; A ${run.a.conn?.outcome ?? '–'}, B ${run.b.conn?.outcome ?? '–'}`;
      outcome.className = ok ? 'ok' : 'bad';
    }
  } else if (run instanceof ReplayRun) {
    bar.style.width = `${run.endTime === 0 ? 100 : (100 * vp.now) / run.endTime}%`;
    outcome.textContent = run.done ? '✓ replayed to the end' : `replaying ${run.events.length} of the trace's events`;
    outcome.className = run.done ? 'ok' : '';
  }
}

function frame(t: number): void {
  const dt = Math.min(100, Math.max(0, t - lastFrame));
  lastFrame = t;
  if (playing) {
    run.advance(dt * 1000 * Number(speedSelect.value));
    if (run.done) setPlaying(false);
  }
  render();
  requestAnimationFrame(frame);
}

function exportTrace(): void {
  const blob = new Blob([traceText(run)], { type: 'application/x-ndjson' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = traceFileName(run);
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

async function loadFile(file: File): Promise<void> {
  try {
    startReplay(readTrace(await file.text()));
  } catch (e) {
    const outcome = $('outcome');
    outcome.textContent = `✗ could not load ${file.name}: ${e instanceof Error ? e.message : String(e)}`;
    outcome.className = 'bad';
  }
}

function focusAt(canvas: HTMLCanvasElement, ev: MouseEvent): void {
  const area = timeArea(canvas.clientWidth, canvas.clientHeight);
  const rect = canvas.getBoundingClientRect();
  const px = ev.clientX - rect.left;
  if (px < area.left || px > area.left + area.width) return;
  const vp = viewport();
  setPlaying(false);
  focus = Math.max(0, Math.min(vp.now, ((px - area.left) / area.width) * vp.xMax));
  dirty = true;
}

playButton.addEventListener('click', () => setPlaying(!playing));
$('step').addEventListener('click', () => {
  setPlaying(false);
  focus = undefined;
  run.step();
});
$('end').addEventListener('click', () => {
  setPlaying(false);
  focus = undefined;
  run.runToEnd();
});
$('restart').addEventListener('click', () => (loaded ? startReplay(loaded) : startLive(form.read())));
$('export').addEventListener('click', exportTrace);
followButton.addEventListener('click', () => {
  focus = undefined;
  dirty = true;
});
windowSelect.addEventListener('change', () => (dirty = true));
$<HTMLInputElement>('load').addEventListener('change', (e) => {
  const input = e.target as HTMLInputElement;
  const file = input.files?.[0];
  if (file) void loadFile(file).then(() => (input.value = ''));
});
for (const c of [timeseq, cwnd, delay]) c.addEventListener('click', (ev) => focusAt(c, ev));
window.addEventListener('resize', () => (dirty = true));
// Space plays and pauses, → steps, End runs to the end — unless a form field has the keyboard.
window.addEventListener('keydown', (e) => {
  const t = e.target as HTMLElement | null;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'BUTTON')) return;
  const button =
    e.key === ' ' ? playButton : e.key === 'ArrowRight' ? $('step') : e.key === 'End' ? $('end') : undefined;
  if (button === undefined) return;
  e.preventDefault();
  button.click();
});

/** For the browser test (and the curious, from the console): the run's numbers without scraping. */
const api = {
  get done() {
    return run.done;
  },
  summary() {
    const live = run instanceof LiveRun ? run : undefined;
    return {
      kind: run.kind,
      done: run.done,
      now: run.now,
      events: run.events.length,
      expectedBytes: live?.b.expectBytes,
      deliveredBytes: live?.b.delivered,
      expectedCrc: live?.b.expectCrc,
      deliveredCrc: live?.b.received.hex(),
      outcomes: live ? [live.a.conn?.outcome, live.b.conn?.outcome] : undefined,
      sides: model.sides.map((s) => ({ label: model.label(s), peer: s.peer, state: s.state })),
      plots: last,
    };
  },
  traceText: () => traceText(run),
  runToEnd() {
    run.runToEnd();
    render();
  },
};
(window as unknown as { utpx: typeof api }).utpx = api;

form.write({ ...DEFAULT_SCENARIO });
startLive(form.read());
requestAnimationFrame((t) => {
  lastFrame = t;
  frame(t);
});
