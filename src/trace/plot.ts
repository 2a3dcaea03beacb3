/**
 * A trace as an SVG picture (`utpx plot`, and the browser playground): a time–sequence (Stevens)
 * graph of one connection — data sent, retransmitted and SACKed, the cumulative ack — and under it
 * cwnd, RTT and queuing delay against LEDBAT's target, on one time axis.
 *
 * Pure: Trace in, SVG text out; no Node, no DOM, no library (a few hundred lines of SVG did not
 * justify a dependency). The numbers are computed first (`buildPlotModel`, which tests compare with
 * the trace) and drawn second (`renderSvg`).
 */
import { TARGET_DELAY_US } from '../core/ledbat.js';
import type { ConnKey, PacketEventData, Trace, TraceEvent } from './format.js';

/** A range of stream bytes [lo, hi) at time t (s since the connection's first event). */
export interface SeqSpan {
  t: number;
  lo: number;
  hi: number;
}

export interface Sample {
  t: number;
  v: number;
}

export interface PlotModel {
  conn: ConnKey;
  /** Whose trace this is: the data's sender (acks come in) or its receiver (data comes in). */
  view: 'sender' | 'receiver';
  title: string;
  /** Seconds from the connection's first event to its last. */
  duration: number;
  /** Stream bytes the data covers. */
  totalBytes: number;
  /** First transmissions (sender) or first arrivals (receiver). */
  data: SeqSpan[];
  /** Retransmissions (sender), or arrivals behind the highest seq or seen before (receiver). */
  retransmits: SeqSpan[];
  /** Ranges a SACK reported received beyond the cumulative ack. */
  sacks: SeqSpan[];
  /** Cumulative ack as a stream offset: everything below it has arrived. */
  acks: Sample[];
  cwnd: Sample[];
  bytesInFlight: Sample[];
  /** ms */
  srtt: Sample[];
  /** ms */
  queuingDelay: Sample[];
  states: Array<{ t: number; state: string; trigger: string }>;
  /** ms */
  targetDelay: number;
  /** Every connection in the trace with the payload bytes it carried, most first. */
  connections: Array<{ conn: ConnKey; bytes: number }>;
}

export class PlotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlotError';
  }
}

type PacketEvent = Extract<TraceEvent, { name: 'packet_sent' | 'packet_received' }>;

/** `seq` (16 bits) as the extended number nearest `ref`: sequence numbers wrap after 65535. */
function unwrap(seq: number, ref: number): number {
  const d = (((seq - ref) % 65536) + 65536 + 32768) % 65536;
  return ref + d - 32768;
}

export function buildPlotModel(trace: Trace, opts: { conn?: ConnKey } = {}): PlotModel {
  const byConn = new Map<ConnKey, TraceEvent[]>();
  for (const e of trace.events) {
    let list = byConn.get(e.conn);
    if (list === undefined) byConn.set(e.conn, (list = []));
    list.push(e);
  }
  const connections = [...byConn.entries()]
    .map(([conn, events]) => ({
      conn,
      bytes: events.reduce((n, e) => n + (isPacket(e) && e.data.type === 'DATA' ? e.data.payload : 0), 0),
    }))
    .sort((a, b) => b.bytes - a.bytes);
  if (connections.length === 0) throw new PlotError('the trace has no events');
  const conn = opts.conn ?? (connections[0] as { conn: ConnKey }).conn;
  const events = byConn.get(conn);
  if (events === undefined) {
    throw new PlotError(`no connection ${conn} in the trace (it has ${connections.map((c) => c.conn).join(', ')})`);
  }
  // Writers emit in order per connection, but a merged file may not be.
  events.sort((a, b) => a.time - b.time);
  const t0 = (events[0] as TraceEvent).time;
  const sec = (time: number): number => (time - t0) / 1e6;

  let sentPayload = 0;
  let receivedPayload = 0;
  for (const e of events) {
    if (isPacket(e) && e.data.type === 'DATA') {
      if (e.name === 'packet_sent') sentPayload += e.data.payload;
      else receivedPayload += e.data.payload;
    }
  }
  const view = sentPayload >= receivedPayload ? 'sender' : 'receiver';
  const dataDir = view === 'sender' ? 'packet_sent' : 'packet_received';
  // Not type guards: a packet that is neither must still reach the later branches' types.
  const isData = (e: TraceEvent): boolean => e.name === dataDir && (e as PacketEvent).data.type === 'DATA';
  const isAck = (e: TraceEvent): boolean =>
    isPacket(e) && e.name !== dataDir && e.data.type !== 'SYN' && e.data.type !== 'RESET';

  // Pass 1: each data seq's payload, on the extended (unwrapped) sequence line.
  const firstData = events.find(isData) as PacketEvent | undefined;
  const payloadOf = new Map<number, number>();
  let ref = firstData ? firstData.data.seq : 0;
  for (const e of events) {
    if (!isData(e)) continue;
    const d = (e as PacketEvent).data;
    ref = unwrap(d.seq, ref);
    if (!payloadOf.has(ref)) payloadOf.set(ref, d.payload);
  }
  // Stream offsets from the seq order, so out-of-order arrivals (receiver view) land right too.
  const seqs = [...payloadOf.keys()].sort((a, b) => a - b);
  const startOf = new Map<number, number>();
  let offset = 0;
  for (const s of seqs) {
    startOf.set(s, offset);
    offset += payloadOf.get(s) as number;
  }
  const totalBytes = offset;
  /** End offset of everything up to and including seq `ext` (acks also name SYN and FIN seqs). */
  const endThrough = (ext: number): number => {
    let lo = 0;
    let hi = seqs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((seqs[mid] as number) <= ext) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return 0;
    const s = seqs[found] as number;
    return (startOf.get(s) as number) + (payloadOf.get(s) as number);
  };

  // Pass 2: the series.
  const data: SeqSpan[] = [];
  const retransmits: SeqSpan[] = [];
  const sacks: SeqSpan[] = [];
  const acks: Sample[] = [];
  const cwnd: Sample[] = [];
  const bytesInFlight: Sample[] = [];
  const srtt: Sample[] = [];
  const queuingDelay: Sample[] = [];
  const states: PlotModel['states'] = [];
  const seen = new Set<number>();
  let highest = Number.NEGATIVE_INFINITY;
  let acked = 0;
  ref = firstData ? firstData.data.seq : 0;
  for (const e of events) {
    const t = sec(e.time);
    if (isData(e)) {
      const d = (e as PacketEvent).data;
      ref = unwrap(d.seq, ref);
      const lo = startOf.get(ref) as number;
      const span = { t, lo, hi: lo + d.payload };
      const again = view === 'sender' ? d.retransmit === true : seen.has(ref) || ref < highest;
      (again ? retransmits : data).push(span);
      seen.add(ref);
      if (ref > highest) highest = ref;
    } else if (isAck(e)) {
      const d = (e as PacketEvent).data;
      const a = endThrough(unwrap(d.ack, ref));
      // Cumulative: an old ack arriving late does not move it back.
      if (a > acked || acks.length === 0) acks.push({ t, v: (acked = Math.max(acked, a)) });
      for (const s of d.sack ?? []) {
        const ext = unwrap(s, ref);
        const lo = startOf.get(ext);
        if (lo !== undefined) sacks.push({ t, lo, hi: lo + (payloadOf.get(ext) as number) });
      }
    } else if (e.name === 'metrics_updated') {
      cwnd.push({ t, v: e.data.cwnd });
      bytesInFlight.push({ t, v: e.data.bytesInFlight });
      if (e.data.srttUs > 0) srtt.push({ t, v: e.data.srttUs / 1000 });
      queuingDelay.push({ t, v: e.data.queuingDelayUs / 1000 });
    } else if (e.name === 'state_updated') {
      states.push({ t, state: e.data.state, trigger: e.data.trigger });
    }
  }
  return {
    conn,
    view,
    title: trace.header.title ?? 'utpx trace',
    duration: sec((events[events.length - 1] as TraceEvent).time),
    totalBytes,
    data,
    retransmits,
    sacks,
    acks,
    cwnd,
    bytesInFlight,
    srtt,
    queuingDelay,
    states,
    targetDelay: TARGET_DELAY_US / 1000,
    connections,
  };
}

function isPacket(e: TraceEvent): e is PacketEvent & { data: PacketEventData } {
  return e.name === 'packet_sent' || e.name === 'packet_received';
}

// ---------------------------------------------------------------- scales and ticks

interface Scale {
  d0: number;
  d1: number;
  r0: number;
  r1: number;
}

function at(s: Scale, v: number): number {
  return s.d1 === s.d0 ? s.r0 : s.r0 + ((v - s.d0) * (s.r1 - s.r0)) / (s.d1 - s.d0);
}

/**
 * About `count` round tick values (1, 2 or 5 × 10^k apart) from 0 to the first at or above `max`:
 * the axis ends on a labelled tick, and the largest value never sits on the frame.
 */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const rough = max / count;
  const pow = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= rough) as number;
  const ticks = [0];
  // toPrecision: 3 × 0.1 is 0.30000000000000004, which would end up in the SVG's attributes.
  while ((ticks[ticks.length - 1] as number) < max * (1 - 1e-9))
    ticks.push(Number((ticks.length * step).toPrecision(12)));
  return ticks;
}

function tickLabel(v: number, step: number): string {
  const decimals = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step) - 1e-9));
  return v.toFixed(decimals);
}

/** The unit a byte axis is labelled in, so ticks read "8 MiB" rather than "8388608". */
function byteUnit(max: number): { name: string; size: number } {
  if (max >= 2 * 1024 * 1024) return { name: 'MiB', size: 1024 * 1024 };
  if (max >= 2 * 1024) return { name: 'KiB', size: 1024 };
  return { name: 'B', size: 1 };
}

// ---------------------------------------------------------------- decimation

/**
 * Decimation keeps a 25k-packet transfer's SVG small (tens of KB, not megabytes): what is drawn is
 * at most what one pixel column can show. Spans are merged per pixel column (overlapping or
 * touching vertical runs become one), lines keep per column the first, lowest, highest and last
 * point (M4), which draws the same picture as every point would at this width.
 */
function decimateSpans(
  spans: Array<{ x: number; y0: number; y1: number }>,
): Array<{ x: number; y0: number; y1: number }> {
  const columns = new Map<number, Array<[number, number]>>();
  for (const s of spans) {
    const x = Math.round(s.x);
    const lo = Math.min(s.y0, s.y1);
    const hi = Math.max(s.y0, s.y1);
    let runs = columns.get(x);
    if (runs === undefined) columns.set(x, (runs = []));
    runs.push([lo, hi]);
  }
  const out: Array<{ x: number; y0: number; y1: number }> = [];
  for (const x of [...columns.keys()].sort((a, b) => a - b)) {
    const runs = (columns.get(x) as Array<[number, number]>).sort((a, b) => a[0] - b[0]);
    let [lo, hi] = runs[0] as [number, number];
    for (let i = 1; i < runs.length; i++) {
      const [l, h] = runs[i] as [number, number];
      if (l <= hi + 1) hi = Math.max(hi, h);
      else {
        out.push({ x, y0: lo, y1: hi });
        [lo, hi] = [l, h];
      }
    }
    out.push({ x, y0: lo, y1: hi });
  }
  return out;
}

export function decimateLine(points: Array<{ x: number; y: number }>): Array<{ x: number; y: number }> {
  const out: Array<{ x: number; y: number }> = [];
  let i = 0;
  while (i < points.length) {
    const col = Math.round((points[i] as { x: number }).x);
    let j = i;
    let min = i;
    let max = i;
    while (j < points.length && Math.round((points[j] as { x: number }).x) === col) {
      if ((points[j] as { y: number }).y < (points[min] as { y: number }).y) min = j;
      if ((points[j] as { y: number }).y > (points[max] as { y: number }).y) max = j;
      j++;
    }
    for (const k of [...new Set([i, min, max, j - 1])].sort((a, b) => a - b))
      out.push(points[k] as { x: number; y: number });
    i = j;
  }
  return out;
}

// ---------------------------------------------------------------- drawing

const WIDTH = 960;
const LEFT = 78;
const RIGHT = 24;
const FONT = "font-family='system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif'";
const COLORS = {
  data: '#1f6feb',
  retransmit: '#d1242f',
  sack: '#7ee2a8',
  ack: '#1a7f37',
  cwnd: '#1f6feb',
  inFlight: '#8c959f',
  rtt: '#8250df',
  delay: '#bc4c00',
  target: '#d1242f',
  grid: '#eaeef2',
  axis: '#57606a',
  text: '#24292f',
};

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function n(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

interface Panel {
  name: string;
  top: number;
  height: number;
  x: Scale;
  y: Scale;
  yLabel: (v: number, step: number) => string;
  yTicks: number[];
}

function panel(
  name: string,
  top: number,
  height: number,
  duration: number,
  yMax: number,
  yLabel: Panel['yLabel'],
  yTicks: number[],
): Panel {
  return {
    name,
    top,
    height,
    x: { d0: 0, d1: duration, r0: LEFT, r1: WIDTH - RIGHT },
    y: { d0: 0, d1: yMax, r0: top + height, r1: top },
    yLabel,
    yTicks,
  };
}

/** A panel's group (its domains and ranges as data attributes, for tests and tools) and its title (markup). */
function openPanel(out: string[], p: Panel, title: string): void {
  out.push(
    `<g data-panel='${p.name}' data-x-domain='0,${p.x.d1}' data-y-domain='0,${p.y.d1}' data-x-range='${p.x.r0},${p.x.r1}' data-y-range='${p.y.r0},${p.y.r1}'>`,
  );
  out.push(
    `<text x='${LEFT}' y='${p.top - 8}' ${FONT} font-size='12' font-weight='600' fill='${COLORS.text}'>${title}</text>`,
  );
}

/** Frame, grid, ticks and labels; the series go in between. */
function drawAxes(p: Panel, out: string[], xTicks: number[], xTitle: boolean): void {
  const bottom = p.top + p.height;
  const left = p.x.r0;
  const right = p.x.r1;
  const xStep = xTicks.length > 1 ? (xTicks[1] as number) - (xTicks[0] as number) : 1;
  const yStep = p.yTicks.length > 1 ? (p.yTicks[1] as number) - (p.yTicks[0] as number) : 1;
  out.push(`<g class='axes' stroke='${COLORS.grid}' stroke-width='1'>`);
  for (const v of p.yTicks) out.push(`<line x1='${left}' x2='${right}' y1='${n(at(p.y, v))}' y2='${n(at(p.y, v))}'/>`);
  for (const v of xTicks) out.push(`<line x1='${n(at(p.x, v))}' x2='${n(at(p.x, v))}' y1='${p.top}' y2='${bottom}'/>`);
  out.push('</g>');
  out.push(
    `<rect x='${left}' y='${p.top}' width='${right - left}' height='${p.height}' fill='none' stroke='${COLORS.axis}'/>`,
  );
  out.push(`<g ${FONT} font-size='11' fill='${COLORS.axis}'>`);
  for (const v of p.yTicks) {
    out.push(`<text x='${left - 6}' y='${n(at(p.y, v) + 4)}' text-anchor='end'>${esc(p.yLabel(v, yStep))}</text>`);
  }
  for (const v of xTicks) {
    out.push(`<text x='${n(at(p.x, v))}' y='${bottom + 15}' text-anchor='middle'>${tickLabel(v, xStep)}</text>`);
  }
  if (xTitle) out.push(`<text x='${(left + right) / 2}' y='${bottom + 32}' text-anchor='middle'>time (s)</text>`);
  out.push('</g>');
}

function spansPath(p: Panel, spans: SeqSpan[]): string {
  const px = decimateSpans(spans.map((s) => ({ x: at(p.x, s.t), y0: at(p.y, s.lo), y1: at(p.y, s.hi) })));
  // At least 2 px tall, so a single small packet is still a visible mark.
  return px
    .map((s) => {
      const mid = (s.y0 + s.y1) / 2;
      const half = Math.max(1, (s.y1 - s.y0) / 2);
      return `M${n(s.x)} ${n(mid + half)}V${n(mid - half)}`;
    })
    .join('');
}

/** Rings of radius 3, one per pixel the spans' midpoints fall on: a shape that stands out from the data marks. */
function ringsPath(p: Panel, spans: SeqSpan[]): string {
  const seen = new Set<string>();
  let d = '';
  for (const s of spans) {
    const x = Math.round(at(p.x, s.t));
    const y = Math.round(at(p.y, (s.lo + s.hi) / 2));
    const key = `${x},${y}`;
    if (seen.has(key)) continue;
    seen.add(key);
    d += `M${x - 3} ${y}a3 3 0 1 0 6 0a3 3 0 1 0 -6 0`;
  }
  return d;
}

function linePath(p: Panel, samples: Sample[], step = false): string {
  const px = decimateLine(samples.map((s) => ({ x: at(p.x, s.t), y: at(p.y, s.v) })));
  let d = '';
  for (let i = 0; i < px.length; i++) {
    const q = px[i] as { x: number; y: number };
    if (i === 0) d += `M${n(q.x)} ${n(q.y)}`;
    else if (step) d += `H${n(q.x)}V${n(q.y)}`;
    else d += `L${n(q.x)} ${n(q.y)}`;
  }
  return d;
}

/** One series as a path with its raw (undecimated) point count, for readers and tests. */
function series(name: string, count: number, d: string, style: string): string {
  return `<path data-series='${name}' data-points='${count}' d='${d}' fill='none' ${style}/>`;
}

/** A legend entry's symbol, drawn in the 22 × 10 box whose left middle is (x, y). */
type Swatch = (x: number, y: number) => string;

function legend(x: number, y: number, items: Array<{ label: string; swatch: Swatch }>, out: string[]): void {
  const width = 14 + Math.max(...items.map((i) => i.label.length)) * 6.4 + 34;
  out.push(
    `<rect x='${x}' y='${y}' width='${n(width)}' height='${items.length * 17 + 8}' fill='white' fill-opacity='0.9' stroke='${COLORS.grid}'/>`,
  );
  items.forEach((item, i) => {
    const cy = y + 13 + i * 17;
    out.push(item.swatch(x + 8, cy));
    out.push(
      `<text x='${x + 38}' y='${cy + 4}' ${FONT} font-size='11' fill='${COLORS.text}'>${esc(item.label)}</text>`,
    );
  });
}

const lineSwatch =
  (color: string, width = 2, dash = ''): Swatch =>
  (x, y) =>
    `<line x1='${x}' x2='${x + 22}' y1='${y}' y2='${y}' stroke='${color}' stroke-width='${width}'${dash ? ` stroke-dasharray='${dash}'` : ''}/>`;
const markSwatch =
  (color: string, width: number): Swatch =>
  (x, y) =>
    `<rect x='${x + 11 - width / 2}' y='${y - 4}' width='${width}' height='8' fill='${color}'/>`;
const ringSwatch =
  (color: string): Swatch =>
  (x, y) =>
    `<circle cx='${x + 11}' cy='${y}' r='3' fill='none' stroke='${color}' stroke-width='1.5'/>`;

function maxOf(samples: Sample[]): number {
  let m = 0;
  for (const s of samples) if (s.v > m) m = s.v;
  return m;
}

function metricsPanel(
  out: string[],
  model: PlotModel,
  xTicks: number[],
  top: number,
  height: number,
  spec: {
    name: string;
    title: string;
    lines: Array<{ name: string; label: string; samples: Sample[]; color: string }>;
    bytes?: boolean;
    target?: number;
    xTitle?: boolean;
  },
): void {
  let yMax = Math.max(...spec.lines.map((l) => maxOf(l.samples)), spec.target ?? 0);
  const unit = spec.bytes ? byteUnit(yMax) : { name: '', size: 1 };
  const ticks = niceTicks(yMax / unit.size, 3).map((v) => v * unit.size);
  yMax = ticks[ticks.length - 1] as number;
  const p = panel(
    spec.name,
    top,
    height,
    model.duration,
    yMax,
    (v, step) => tickLabel(v / unit.size, step / unit.size),
    ticks,
  );
  openPanel(out, p, `${esc(spec.title)}${unit.name ? ` (${unit.name})` : ''}`);
  drawAxes(p, out, xTicks, spec.xTitle ?? false);
  if (spec.target !== undefined) {
    const y = n(at(p.y, spec.target));
    out.push(
      `<line data-series='target' x1='${p.x.r0}' x2='${p.x.r1}' y1='${y}' y2='${y}' stroke='${COLORS.target}' stroke-width='1.5' stroke-dasharray='6 4'/>`,
    );
  }
  for (const l of spec.lines) {
    out.push(series(l.name, l.samples.length, linePath(p, l.samples), `stroke='${l.color}' stroke-width='1.5'`));
  }
  // The panel's legend sits on its title line, right-aligned.
  const items = spec.lines.map((l) => ({ label: l.label, color: l.color, dash: '' }));
  if (spec.target !== undefined)
    items.push({ label: `LEDBAT target ${spec.target} ms`, color: COLORS.target, dash: '6 4' });
  let x = WIDTH - RIGHT;
  for (const item of items.reverse()) {
    const w = item.label.length * 6.2 + 44;
    x -= w;
    out.push(
      `<line x1='${n(x)}' x2='${n(x + 22)}' y1='${top - 12}' y2='${top - 12}' stroke='${item.color}' stroke-width='2'${item.dash ? ` stroke-dasharray='${item.dash}'` : ''}/>`,
    );
    out.push(
      `<text x='${n(x + 26)}' y='${top - 8}' ${FONT} font-size='11' fill='${COLORS.text}'>${esc(item.label)}</text>`,
    );
  }
  out.push('</g>');
}

function stateLabel(s: { state: string; trigger: string }): string | undefined {
  if (s.trigger === 'xstate.init') return undefined;
  if (s.state === 'closed') return 'closed';
  // Delayed transitions are named "xstate.after.<delay>.<state>": the delay is what matters.
  return s.trigger.startsWith('xstate.after.') ? (s.trigger.split('.')[2] ?? s.trigger) : s.trigger;
}

export function renderSvg(model: PlotModel): string {
  const out: string[] = [];
  const seqTop = 96;
  const seqHeight = 330;
  const metricHeight = 100;
  const metricGap = 62;
  const cwndTop = seqTop + seqHeight + metricGap;
  const rttTop = cwndTop + metricHeight + metricGap;
  const delayTop = rttTop + metricHeight + metricGap;
  const height = delayTop + metricHeight + 46;
  const xTicks = niceTicks(model.duration, 8);
  const duration = xTicks[xTicks.length - 1] as number;
  const m: PlotModel = { ...model, duration };

  out.push(
    `<svg xmlns='http://www.w3.org/2000/svg' width='${WIDTH}' height='${height}' viewBox='0 0 ${WIDTH} ${height}' data-conn='${esc(model.conn)}' data-view='${model.view}'>`,
  );
  out.push(`<rect width='100%' height='100%' fill='white'/>`);
  const rtx = model.retransmits.length;
  out.push(
    `<text x='${LEFT}' y='26' ${FONT} font-size='16' font-weight='600' fill='${COLORS.text}'>${esc(model.title)}</text>`,
  );
  const subtitle =
    `connection ${model.conn}, ${model.view === 'sender' ? "sender's" : "receiver's"} view: ` +
    `${formatBytes(model.totalBytes)} in ${model.duration.toFixed(3)} s, ${model.data.length} data packets, ` +
    `${rtx} ${model.view === 'sender' ? 'retransmitted' : 'late or repeated'}`;
  out.push(`<text x='${LEFT}' y='46' ${FONT} font-size='12' fill='${COLORS.axis}'>${esc(subtitle)}</text>`);

  // Time–sequence graph.
  const unit = byteUnit(model.totalBytes);
  const yTicks = niceTicks(model.totalBytes / unit.size, 6).map((v) => v * unit.size);
  const yMax = yTicks[yTicks.length - 1] as number;
  const p = panel(
    'sequence',
    seqTop,
    seqHeight,
    duration,
    yMax,
    (v, step) => tickLabel(v / unit.size, step / unit.size),
    yTicks,
  );
  openPanel(out, p, `stream offset (${unit.name}) — time–sequence graph`);
  drawAxes(p, out, xTicks, false);
  // State changes: a faint line each, labelled in one of two rows where there is room (they bunch
  // up at the start and the end).
  const rowEnd = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
  out.push(`<g data-series='states' data-points='${model.states.length}'>`);
  for (const s of model.states) {
    const label = stateLabel(s);
    if (label === undefined) continue;
    const x = at(p.x, s.t);
    out.push(
      `<line x1='${n(x)}' x2='${n(x)}' y1='${seqTop}' y2='${seqTop + seqHeight}' stroke='${COLORS.inFlight}' stroke-width='1' stroke-dasharray='2 3'><title>${esc(`${s.trigger} → ${s.state}`)}</title></line>`,
    );
    const w = label.length * 6 + 8;
    // Kept inside the picture: a label at either end is anchored at its line's side, not centred.
    const left = Math.min(Math.max(x - w / 2, 2), WIDTH - 2 - w);
    const row = rowEnd.findIndex((end) => left > end);
    if (row >= 0) {
      out.push(
        `<text x='${n(left + 4)}' y='${seqTop - 22 - row * 12}' ${FONT} font-size='10' fill='${COLORS.axis}'>${esc(label)}</text>`,
      );
      rowEnd[row] = left + w;
    }
  }
  out.push('</g>');
  // Drawn bottom to top: SACK bands, the ack line, data marks over it, retransmissions over all.
  out.push(series('sack', model.sacks.length, spansPath(p, model.sacks), `stroke='${COLORS.sack}' stroke-width='5'`));
  out.push(
    series('ack', model.acks.length, linePath(p, model.acks, true), `stroke='${COLORS.ack}' stroke-width='1.5'`),
  );
  out.push(series('data', model.data.length, spansPath(p, model.data), `stroke='${COLORS.data}' stroke-width='2'`));
  const rings = ringsPath(p, model.retransmits);
  out.push(series('retransmit', model.retransmits.length, rings, `stroke='${COLORS.retransmit}' stroke-width='1.5'`));
  const sender = model.view === 'sender';
  legend(
    LEFT + 10,
    seqTop + 10,
    [
      { label: sender ? 'data sent' : 'data received', swatch: markSwatch(COLORS.data, 2) },
      { label: sender ? 'retransmitted' : 'late or repeated arrival', swatch: ringSwatch(COLORS.retransmit) },
      { label: 'cumulative ack', swatch: lineSwatch(COLORS.ack) },
      { label: 'SACKed', swatch: markSwatch(COLORS.sack, 5) },
      { label: 'state change', swatch: lineSwatch(COLORS.inFlight, 1, '2 3') },
    ],
    out,
  );
  out.push('</g>');

  metricsPanel(out, m, xTicks, cwndTop, metricHeight, {
    name: 'cwnd',
    // A receiver's window, RTT and delay concern the little it sends; the sender's trace has the transfer's.
    title: model.view === 'sender' ? 'congestion window' : "congestion window, the receiver's own",
    bytes: true,
    lines: [
      { name: 'cwnd', label: 'cwnd', samples: model.cwnd, color: COLORS.cwnd },
      { name: 'in-flight', label: 'bytes in flight', samples: model.bytesInFlight, color: COLORS.inFlight },
    ],
  });
  metricsPanel(out, m, xTicks, rttTop, metricHeight, {
    name: 'rtt',
    title: 'round-trip time (ms)',
    lines: [{ name: 'srtt', label: 'smoothed RTT', samples: model.srtt, color: COLORS.rtt }],
  });
  metricsPanel(out, m, xTicks, delayTop, metricHeight, {
    name: 'queuing-delay',
    title: `queuing delay (ms), max ${maxOf(model.queuingDelay).toFixed(2)}`,
    lines: [{ name: 'queuing-delay', label: 'queuing delay', samples: model.queuingDelay, color: COLORS.delay }],
    target: model.targetDelay,
    xTitle: true,
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function formatBytes(b: number): string {
  const u = byteUnit(b);
  return u.size === 1 ? `${b} bytes` : `${(b / u.size).toFixed(1)} ${u.name}`;
}

/** Trace → SVG text, the connection with the most data unless `conn` names one. */
export function plotTrace(trace: Trace, opts: { conn?: ConnKey } = {}): string {
  return renderSvg(buildPlotModel(trace, opts));
}
