/**
 * The ladder (sequence) diagram: A's lane on top, B's below, each datagram a line from its send time
 * on the sender's lane to its arrival on the receiver's, over a sliding window of the trace. Dropped
 * datagrams end half way with a red ×; retransmissions are orange; acks carrying a SACK are teal.
 * Datagrams still travelling (live) are drawn as far as they have got, at the median one-way delay.
 * Labels name the packet (type and seq_nr, or the ack_nr of a STATE); ↻ marks a retransmission.
 */
import type { Flight, TraceModel } from '../model.js';
import { type Area, FONT, MONO, prepare, Scale, ticks } from './plot.js';
import { LOST, RETRANSMIT, SACK, TIME_MARGIN, TYPE_COLOR, type Viewport } from './style.js';

/** Below this many datagrams in the window, every one gets a label. */
const LABEL_ALL_BELOW = 40;

/** `peerLabel` names the second lane while the trace has one side only (B before it hears the SYN). */
export function drawLadder(canvas: HTMLCanvasElement, model: TraceModel, vp: Viewport, peerLabel: string): number {
  const { ctx, width, height } = prepare(canvas);
  const area: Area = {
    left: TIME_MARGIN.left,
    top: 22,
    width: width - TIME_MARGIN.left - TIME_MARGIN.right,
    height: height - 22 - 26,
  };
  const x = new Scale(vp.ladderFrom, vp.ladderTo, area.left, area.left + area.width);
  const laneY = [area.top + 8, area.top + area.height - 8];
  const yOf = (side: number) => laneY[side < 0 ? 1 : Math.min(1, side)] as number;

  // Time ticks along the top, lanes as thick lines.
  ctx.font = FONT;
  ctx.fillStyle = '#6b7280';
  ctx.strokeStyle = '#eef0f3';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  for (const t of ticks(vp.ladderFrom / 1000, vp.ladderTo / 1000, Math.max(2, Math.floor(area.width / 90)))) {
    const px = Math.round(x.map(t * 1000)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(px, area.top);
    ctx.lineTo(px, area.top + area.height);
    ctx.stroke();
    ctx.fillText(`${Math.round(t * 10) / 10} ms`, px, area.top - 4);
  }
  ctx.strokeStyle = '#334155';
  ctx.lineWidth = 3;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  ctx.fillStyle = '#111827';
  ctx.font = `bold ${FONT}`;
  for (const s of model.sides.slice(0, 2)) {
    const y = yOf(s.index);
    ctx.beginPath();
    ctx.moveTo(area.left, y);
    ctx.lineTo(area.left + area.width, y);
    ctx.stroke();
    ctx.fillText(model.label(s), area.left - 8, y);
  }
  if (model.sides.length === 1) {
    // Only one side traced so far (or at all): the other lane has no events of its own.
    const y = yOf(1);
    ctx.strokeStyle = '#cbd5e1';
    ctx.beginPath();
    ctx.moveTo(area.left, y);
    ctx.lineTo(area.left + area.width, y);
    ctx.stroke();
    ctx.fillText(peerLabel, area.left - 8, y);
  }

  const oneWay = medianOneWay(model.flights);
  const visible: Flight[] = [];
  for (const f of model.flights) {
    const start = f.sent ?? (f.received as number) - oneWay;
    const end = f.received ?? (f.lost ? start + oneWay / 2 : start + oneWay);
    if (start > vp.now || end < vp.ladderFrom || start > vp.ladderTo) continue;
    visible.push(f);
  }
  ctx.save();
  ctx.beginPath();
  ctx.rect(area.left, 0, area.width, height);
  ctx.clip();
  const labels = new LabelRows(area.left);
  const labelAll = visible.length < LABEL_ALL_BELOW;
  for (const f of visible) drawFlight(ctx, f, x, yOf, vp, oneWay, labelAll ? labels : labels.notableOnly());
  ctx.restore();

  // Where "now" is, when it is inside the window.
  if (vp.now >= vp.ladderFrom && vp.now <= vp.ladderTo && !vp.done) {
    const px = Math.round(x.map(vp.now)) + 0.5;
    ctx.strokeStyle = '#f59e0b';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(px, area.top - 2);
    ctx.lineTo(px, area.top + area.height + 2);
    ctx.stroke();
  }
  drawKey(ctx, area, height);
  canvas.dataset.flights = String(visible.length);
  return visible.length;
}

function drawFlight(
  ctx: CanvasRenderingContext2D,
  f: Flight,
  x: Scale,
  yOf: (side: number) => number,
  vp: Viewport,
  oneWay: number,
  labels: LabelRows,
): void {
  const from = f.from < 0 ? 1 : f.from;
  const to = 1 - from;
  const sent = f.sent ?? (f.received as number) - oneWay;
  const y0 = yOf(from);
  const y1 = yOf(to);
  let t1: number;
  let frac = 1;
  if (f.lost !== undefined) {
    t1 = sent + oneWay / 2;
    frac = 0.5;
  } else if (f.received !== undefined && f.received <= vp.now) {
    t1 = f.received;
  } else {
    // Still travelling: as far as the typical one-way delay says it has got.
    frac = Math.min(0.97, (vp.now - sent) / Math.max(1, oneWay));
    t1 = sent + frac * oneWay;
    if (vp.done) frac = Math.min(frac, 0.3);
  }
  const px0 = x.map(sent);
  const px1 = x.map(t1);
  const py1 = y0 + (y1 - y0) * frac;
  const sackAck = f.type === 'STATE' && f.sack !== undefined && f.sack.length > 0;
  const color = f.retransmit ? RETRANSMIT : sackAck ? SACK : (TYPE_COLOR[f.type] ?? '#111');
  ctx.strokeStyle = color;
  ctx.lineWidth = f.type === 'STATE' ? 1 : 1.6;
  ctx.setLineDash(f.duplicate ? [3, 3] : f.sent === undefined ? [1, 3] : []);
  ctx.beginPath();
  ctx.moveTo(px0, y0);
  ctx.lineTo(px1, py1);
  ctx.stroke();
  ctx.setLineDash([]);
  if (f.lost !== undefined) {
    ctx.strokeStyle = LOST;
    ctx.lineWidth = 2;
    const r = 4;
    ctx.beginPath();
    ctx.moveTo(px1 - r, py1 - r);
    ctx.lineTo(px1 + r, py1 + r);
    ctx.moveTo(px1 + r, py1 - r);
    ctx.lineTo(px1 - r, py1 + r);
    ctx.stroke();
  } else if (f.received !== undefined && f.received <= vp.now) {
    ctx.fillStyle = color;
    ctx.beginPath();
    ctx.arc(px1, py1, f.type === 'STATE' ? 1.5 : 2, 0, Math.PI * 2);
    ctx.fill();
  }
  const notable = f.type !== 'DATA' && f.type !== 'STATE';
  if (labels.all || notable || f.retransmit || f.lost !== undefined) {
    ctx.font = MONO;
    const text =
      f.type === 'STATE'
        ? `ack ${f.ack}${sackAck ? ' +SACK' : ''}`
        : `${f.type} ${f.seq}${f.retransmit ? ' ↻' : ''}${f.lost !== undefined ? ` ✕ ${f.lost}` : ''}`;
    const row = labels.place(from, px0 + 3, ctx.measureText(text).width);
    if (row >= 0) {
      ctx.fillStyle = f.lost !== undefined ? LOST : color;
      ctx.textAlign = 'left';
      ctx.textBaseline = from === 0 ? 'top' : 'bottom';
      const dy = 3 + row * 11;
      ctx.fillText(text, px0 + 3, y0 + (from === 0 ? dy : -dy));
    }
  }
}

/** Two rows of labels beside each lane; a label that fits in neither is left out rather than overprinted. */
class LabelRows {
  private readonly ends: number[][] = [
    [0, 0],
    [0, 0],
  ];
  all = true;

  constructor(left: number) {
    for (const lane of this.ends) lane.fill(left);
  }

  notableOnly(): this {
    this.all = false;
    return this;
  }

  /** The row the label goes in, or −1. */
  place(lane: number, x: number, width: number): number {
    const rows = this.ends[lane] as number[];
    const row = rows.findIndex((end) => x >= end + 6);
    if (row >= 0) rows[row] = x + width;
    return row;
  }
}

/** The median arrival − send time over the last matched datagrams; 20 ms before any arrived. */
function medianOneWay(flights: readonly Flight[]): number {
  const d: number[] = [];
  for (let i = flights.length - 1; i >= 0 && d.length < 64; i--) {
    const f = flights[i] as Flight;
    if (f.sent !== undefined && f.received !== undefined) d.push(f.received - f.sent);
  }
  if (d.length === 0) return 20_000;
  d.sort((a, b) => a - b);
  return d[d.length >> 1] as number;
}

function drawKey(ctx: CanvasRenderingContext2D, area: Area, height: number): void {
  const items: [string, string][] = [
    ['SYN', TYPE_COLOR.SYN as string],
    ['DATA', TYPE_COLOR.DATA as string],
    ['STATE (ack)', TYPE_COLOR.STATE as string],
    ['ack with SACK', SACK],
    ['FIN', TYPE_COLOR.FIN as string],
    ['RESET', TYPE_COLOR.RESET as string],
    ['retransmission', RETRANSMIT],
    ['× dropped', LOST],
  ];
  ctx.font = FONT;
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'left';
  let x = area.left;
  const y = height - 10;
  for (const [label, color] of items) {
    ctx.fillStyle = color;
    ctx.fillRect(x, y - 1.5, 14, 3);
    ctx.fillStyle = '#374151';
    ctx.fillText(label, x + 18, y);
    x += ctx.measureText(label).width + 34;
  }
}
