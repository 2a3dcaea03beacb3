/**
 * The time–sequence graph of each side that sends data: every DATA packet sent as a dot at (time,
 * seq_nr), retransmissions in orange, dropped ones as a red ×; the cumulative ack coming back as a
 * green step line, and packets a SACK reports received beyond it as teal ticks. The gap between the
 * dots and the ack line is what is in flight; a flat ack line with SACK ticks above it is a hole
 * waiting for its retransmission.
 */
import type { TraceModel } from '../model.js';
import { drawFrame, drawLegend, msLabel, niceCeil, prepare, Scale } from './plot.js';
import { ACK, LOST, RETRANSMIT, SACK, SIDE_COLOR, type Viewport } from './style.js';
import { shadeWindow, timeArea, timeScale } from './time-axis.js';

export interface TimeSeqCounts {
  /** DATA packets drawn, per side label. */
  readonly data: Record<string, number>;
  /** Ack points drawn, per side label. */
  readonly acks: Record<string, number>;
}

/**
 * The whole run (x from 0), or with `zoom` only the ladder's window, its y range fitted to what
 * was sent and acked in it — where single packets, holes and retransmissions can be told apart.
 */
export function drawTimeSequence(
  canvas: HTMLCanvasElement,
  model: TraceModel,
  vp: Viewport,
  zoom = false,
): TimeSeqCounts {
  const { ctx, width, height } = prepare(canvas);
  const area = zoom ? { ...timeArea(width, height), left: 44 } : timeArea(width, height);
  const x = zoom ? new Scale(vp.ladderFrom, vp.ladderTo, area.left, area.left + area.width) : timeScale(area, vp);
  const senders = model.sides.filter((s) => s.dataSent.length > 0);
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  const within = (t: number) => !zoom || (t >= vp.ladderFrom && t <= vp.ladderTo);
  const extend = (v: number) => {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  };
  for (const s of senders) {
    for (const p of s.dataSent) if (within(p.time)) extend(p.seq);
    if (zoom) for (const a of s.acks) if (within(a.time)) extend(a.ack);
  }
  const y =
    zoom && hi >= lo
      ? new Scale(Math.max(0, lo - 2), hi + 2, area.top + area.height, area.top)
      : new Scale(0, niceCeil(Math.max(10, hi) * 1.04), area.top + area.height, area.top);
  drawFrame(ctx, area, {
    x,
    y,
    xFormat: msLabel,
    xLabel: zoom ? 'the ladder’s window (ms)' : 'time (ms)',
    yLabel: zoom ? '' : 'seq_nr − first',
  });
  if (!zoom) shadeWindow(ctx, area, x, vp);

  const counts: TimeSeqCounts = { data: {}, acks: {} };
  ctx.save();
  ctx.beginPath();
  ctx.rect(area.left, area.top, area.width, area.height);
  ctx.clip();
  for (const s of senders) {
    const label = model.label(s);
    const color = SIDE_COLOR[s.index % 2] as string;
    // SACK ticks first, so the dots stay on top.
    ctx.fillStyle = SACK;
    for (const a of s.acks) {
      if (a.sack === undefined) continue;
      const px = x.map(a.time);
      for (const q of a.sack) ctx.fillRect(px - 1.5, y.map(q) - 0.75, 3, 1.5);
    }
    ctx.strokeStyle = ACK;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let first = true;
    let lastY = 0;
    for (const a of s.acks) {
      const px = x.map(a.time);
      const py = y.map(a.ack);
      if (first) ctx.moveTo(px, py);
      else {
        ctx.lineTo(px, lastY);
        ctx.lineTo(px, py);
      }
      first = false;
      lastY = py;
    }
    ctx.stroke();
    for (const p of s.dataSent) {
      const px = x.map(p.time);
      const py = y.map(p.seq);
      if (p.flight.lost !== undefined) {
        ctx.strokeStyle = LOST;
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(px - 3, py - 3);
        ctx.lineTo(px + 3, py + 3);
        ctx.moveTo(px + 3, py - 3);
        ctx.lineTo(px - 3, py + 3);
        ctx.stroke();
      } else if (p.flight.retransmit) {
        ctx.fillStyle = RETRANSMIT;
        ctx.beginPath();
        ctx.arc(px, py, 2.8, 0, Math.PI * 2);
        ctx.fill();
      } else {
        const r = zoom ? 2.2 : 1.25;
        ctx.fillStyle = color;
        ctx.fillRect(px - r, py - r, 2 * r, 2 * r);
      }
    }
    counts.data[label] = s.dataSent.length;
    counts.acks[label] = s.acks.length;
  }
  ctx.restore();
  if (zoom) {
    canvas.dataset.visible = String(senders.reduce((n, s) => n + s.dataSent.filter((p) => within(p.time)).length, 0));
    return counts;
  }
  drawLegend(ctx, area, [
    ...senders.map((s) => ({
      label: `DATA sent by ${model.label(s)}`,
      color: SIDE_COLOR[s.index % 2] as string,
      dot: true,
    })),
    { label: 'retransmitted', color: RETRANSMIT, dot: true },
    { label: '× dropped', color: LOST, dot: true },
    { label: 'cumulative ack', color: ACK },
    { label: 'SACKed', color: SACK },
  ]);
  canvas.dataset.points = JSON.stringify(counts);
  return counts;
}
