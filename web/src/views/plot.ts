/**
 * The little a canvas plot needs: a HiDPI-sized context, linear scales, round tick values, and a
 * frame with grid, ticks and axis labels. Hand-written because the views are a few scatter and step
 * series over a shared time axis; a charting library would be larger than all of them together.
 */

export const FONT = '11px system-ui, -apple-system, "Segoe UI", sans-serif';
export const MONO = '10px ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace';

export interface Area {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/** Sizes the canvas backing store to its CSS box times the pixel ratio; returns a context in CSS pixels. */
export function prepare(canvas: HTMLCanvasElement): { ctx: CanvasRenderingContext2D; width: number; height: number } {
  const dpr = window.devicePixelRatio || 1;
  const width = Math.max(1, canvas.clientWidth);
  const height = Math.max(1, canvas.clientHeight);
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
  }
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height };
}

export class Scale {
  constructor(
    readonly d0: number,
    readonly d1: number,
    readonly r0: number,
    readonly r1: number,
  ) {}

  map(v: number): number {
    const span = this.d1 - this.d0;
    return span === 0 ? this.r0 : this.r0 + ((v - this.d0) / span) * (this.r1 - this.r0);
  }

  invert(px: number): number {
    const span = this.r1 - this.r0;
    return span === 0 ? this.d0 : this.d0 + ((px - this.r0) / span) * (this.d1 - this.d0);
  }
}

/** About `count` round values (1, 2, 5 × 10^k steps) covering [min, max]. */
export function ticks(min: number, max: number, count: number): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step)
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** A round number ≥ v (1, 2, 5 × 10^k), so growing axes move in steps rather than every frame. */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const mag = 10 ** Math.floor(Math.log10(v));
  return ([1, 1.5, 2, 3, 4, 5, 6, 8, 10].map((m) => m * mag).find((s) => s >= v) ?? 10 * mag) as number;
}

export interface FrameOptions {
  readonly x: Scale;
  readonly y: Scale;
  readonly xLabel?: string;
  readonly yLabel: string;
  readonly xFormat?: (v: number) => string;
  readonly yFormat?: (v: number) => string;
  readonly yTicks?: number;
}

/** Grid, tick labels and axis titles around `area`. */
export function drawFrame(ctx: CanvasRenderingContext2D, area: Area, o: FrameOptions): void {
  const { left, top, width, height } = area;
  ctx.save();
  ctx.font = FONT;
  ctx.strokeStyle = '#e5e7eb';
  ctx.fillStyle = '#6b7280';
  ctx.lineWidth = 1;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const t of ticks(o.x.d0, o.x.d1, Math.max(2, Math.floor(width / 90)))) {
    const px = Math.round(o.x.map(t)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(px, top);
    ctx.lineTo(px, top + height);
    ctx.stroke();
    ctx.fillText((o.xFormat ?? String)(t), px, top + height + 3);
  }
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const t of ticks(o.y.d0, o.y.d1, o.yTicks ?? Math.max(2, Math.floor(height / 35)))) {
    const py = Math.round(o.y.map(t)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(left, py);
    ctx.lineTo(left + width, py);
    ctx.stroke();
    ctx.fillText((o.yFormat ?? String)(t), left - 4, py);
  }
  ctx.strokeStyle = '#9ca3af';
  ctx.strokeRect(left + 0.5, top + 0.5, width, height);
  ctx.fillStyle = '#374151';
  if (o.xLabel) {
    ctx.textAlign = 'right';
    ctx.textBaseline = 'top';
    ctx.fillText(o.xLabel, left + width, top + height + 16);
  }
  ctx.translate(12, top + height / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(o.yLabel, 0, 0);
  ctx.restore();
}

/** A small legend row in the top-left corner of `area`. */
export function drawLegend(
  ctx: CanvasRenderingContext2D,
  area: Area,
  items: readonly { label: string; color: string; dash?: number[]; dot?: boolean }[],
): void {
  ctx.save();
  ctx.font = FONT;
  ctx.textBaseline = 'middle';
  let x = area.left + 8;
  const y = area.top + 10;
  for (const it of items) {
    const w = ctx.measureText(it.label).width;
    ctx.fillStyle = 'rgba(255,255,255,0.85)';
    ctx.fillRect(x - 3, y - 7, w + 30, 14);
    ctx.strokeStyle = it.color;
    ctx.fillStyle = it.color;
    ctx.lineWidth = 2;
    ctx.setLineDash(it.dash ?? []);
    if (it.dot) {
      ctx.beginPath();
      ctx.arc(x + 8, y, 3, 0, Math.PI * 2);
      ctx.fill();
    } else {
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(x + 16, y);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    ctx.fillStyle = '#374151';
    ctx.fillText(it.label, x + 20, y);
    x += w + 34;
  }
  ctx.restore();
}

/** Milliseconds for an axis: "250", "1.5 s" past 10 s. */
export function msLabel(us: number): string {
  const ms = us / 1000;
  return ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : `${Math.round(ms * 10) / 10}`;
}
