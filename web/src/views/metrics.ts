/**
 * Congestion control over time, from the `metrics_updated` samples of each side that sends data:
 * LEDBAT's cwnd with the bytes actually in flight, and the smoothed RTT with the queuing delay
 * LEDBAT measures against its 100 ms target (RFC 6817 TARGET). Values hold between samples, so they
 * are drawn as steps.
 */
import type { MetricsPoint, SideModel, TraceModel } from '../model.js';
import { drawFrame, drawLegend, msLabel, niceCeil, prepare, Scale } from './plot.js';
import { SIDE_COLOR, SIDE_LIGHT, TARGET, type Viewport } from './style.js';
import { shadeWindow, timeArea, timeScale } from './time-axis.js';

/** RFC 6817 TARGET, as utpx's LEDBAT uses it. */
export const LEDBAT_TARGET_US = 100_000;

function senders(model: TraceModel): SideModel[] {
  return model.sides.filter((s) => s.dataSent.length > 0 && s.metrics.length > 0);
}

function steps(
  ctx: CanvasRenderingContext2D,
  pts: readonly MetricsPoint[],
  x: Scale,
  y: Scale,
  value: (p: MetricsPoint) => number,
): void {
  ctx.beginPath();
  let lastY = 0;
  pts.forEach((p, i) => {
    const px = x.map(p.time);
    const py = y.map(value(p));
    if (i === 0) ctx.moveTo(px, py);
    else {
      ctx.lineTo(px, lastY);
      ctx.lineTo(px, py);
    }
    lastY = py;
  });
  ctx.stroke();
}

/** Returns the number of samples drawn per side label. */
export function drawCwnd(canvas: HTMLCanvasElement, model: TraceModel, vp: Viewport): Record<string, number> {
  const { ctx, width, height } = prepare(canvas);
  const area = timeArea(width, height);
  const x = timeScale(area, vp);
  const sides = senders(model);
  let max = 16 * 1024;
  for (const s of sides) for (const p of s.metrics) max = Math.max(max, p.data.cwnd, p.data.bytesInFlight);
  const y = new Scale(0, niceCeil((max * 1.05) / 1024) * 1024, area.top + area.height, area.top);
  drawFrame(ctx, area, {
    x,
    y,
    xFormat: msLabel,
    xLabel: 'time (ms)',
    yLabel: 'KiB',
    yFormat: (v) => String(Math.round(v / 1024)),
  });
  shadeWindow(ctx, area, x, vp);
  const counts: Record<string, number> = {};
  for (const s of sides) {
    ctx.lineWidth = 1;
    ctx.strokeStyle = SIDE_LIGHT[s.index % 2] as string;
    steps(ctx, s.metrics, x, y, (p) => p.data.bytesInFlight);
    ctx.lineWidth = 2;
    ctx.strokeStyle = SIDE_COLOR[s.index % 2] as string;
    steps(ctx, s.metrics, x, y, (p) => p.data.cwnd);
    counts[model.label(s)] = s.metrics.length;
  }
  drawLegend(
    ctx,
    area,
    sides.flatMap((s) => [
      { label: `cwnd ${model.label(s)}`, color: SIDE_COLOR[s.index % 2] as string },
      { label: `bytes in flight ${model.label(s)}`, color: SIDE_LIGHT[s.index % 2] as string },
    ]),
  );
  canvas.dataset.points = JSON.stringify(counts);
  return counts;
}

export function drawDelay(canvas: HTMLCanvasElement, model: TraceModel, vp: Viewport): Record<string, number> {
  const { ctx, width, height } = prepare(canvas);
  const area = timeArea(width, height);
  const x = timeScale(area, vp);
  const sides = senders(model);
  let max = LEDBAT_TARGET_US * 1.3;
  for (const s of sides) for (const p of s.metrics) max = Math.max(max, p.data.srttUs, p.data.queuingDelayUs);
  const y = new Scale(0, niceCeil((max * 1.05) / 1000) * 1000, area.top + area.height, area.top);
  drawFrame(ctx, area, { x, y, xFormat: msLabel, xLabel: 'time (ms)', yLabel: 'ms', yFormat: msLabel });
  shadeWindow(ctx, area, x, vp);
  // The target line.
  ctx.strokeStyle = TARGET;
  ctx.setLineDash([6, 4]);
  ctx.lineWidth = 1;
  const ty = Math.round(y.map(LEDBAT_TARGET_US)) + 0.5;
  ctx.beginPath();
  ctx.moveTo(area.left, ty);
  ctx.lineTo(area.left + area.width, ty);
  ctx.stroke();
  ctx.setLineDash([]);
  const counts: Record<string, number> = {};
  for (const s of sides) {
    const pts = s.metrics.filter((p) => p.data.srttUs > 0);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = SIDE_LIGHT[s.index % 2] as string;
    steps(ctx, pts, x, y, (p) => p.data.srttUs);
    ctx.lineWidth = 2;
    ctx.strokeStyle = SIDE_COLOR[s.index % 2] as string;
    steps(ctx, s.metrics, x, y, (p) => p.data.queuingDelayUs);
    counts[model.label(s)] = s.metrics.length;
  }
  drawLegend(ctx, area, [
    ...sides.flatMap((s) => [
      { label: `queuing delay ${model.label(s)}`, color: SIDE_COLOR[s.index % 2] as string },
      { label: `smoothed RTT ${model.label(s)}`, color: SIDE_LIGHT[s.index % 2] as string },
    ]),
    { label: 'LEDBAT target 100 ms', color: TARGET, dash: [6, 4] },
  ]);
  canvas.dataset.points = JSON.stringify(counts);
  return counts;
}
