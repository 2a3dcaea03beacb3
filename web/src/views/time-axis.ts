/**
 * What every time plot shares: the plot area inside TIME_MARGIN, the x scale from 0 to
 * `vp.xMax`, the ladder's window shaded and a line at "now", so the plots and the ladder read
 * as one picture.
 */
import { type Area, Scale } from './plot.js';
import { TIME_MARGIN, type Viewport } from './style.js';

export function timeArea(width: number, height: number): Area {
  return {
    left: TIME_MARGIN.left,
    top: TIME_MARGIN.top,
    width: width - TIME_MARGIN.left - TIME_MARGIN.right,
    height: height - TIME_MARGIN.top - TIME_MARGIN.bottom,
  };
}

export function timeScale(area: Area, vp: Viewport): Scale {
  return new Scale(0, vp.xMax, area.left, area.left + area.width);
}

export function shadeWindow(ctx: CanvasRenderingContext2D, area: Area, x: Scale, vp: Viewport): void {
  const a = Math.max(area.left, x.map(vp.ladderFrom));
  const b = Math.min(area.left + area.width, x.map(vp.ladderTo));
  if (b > a) {
    ctx.fillStyle = 'rgba(245, 158, 11, 0.10)';
    ctx.fillRect(a, area.top, b - a, area.height);
  }
  if (!vp.done) {
    const px = Math.round(x.map(vp.now)) + 0.5;
    ctx.strokeStyle = '#f59e0b';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(px, area.top);
    ctx.lineTo(px, area.top + area.height);
    ctx.stroke();
  }
}
