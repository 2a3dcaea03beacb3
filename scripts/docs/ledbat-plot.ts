/**
 * The LEDBAT-vs-Reno run as an SVG: three panels on one time axis — both flows' throughput, utpx's
 * congestion window, and the queuing delay LEDBAT measures against its 100 ms target — with the time
 * the Reno flow runs shaded. Axis ticks come from the CLI's plot (src/trace/plot.ts).
 */
import { niceTicks } from '../../src/trace/plot.js';
import { LEDBAT_RUN, type LedbatRun, type LedbatSample } from './ledbat-run.js';

const WIDTH = 900;
const LEFT = 70;
const RIGHT = 20;
const PANEL = 150;
const GAP = 56;
const FONT = `font-family='system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif'`;
const C = {
  utpx: '#2563eb',
  reno: '#ea580c',
  delay: '#7c3aed',
  target: '#dc2626',
  grid: '#e5e7eb',
  text: '#111827',
  muted: '#6b7280',
  shade: '#fff7ed',
};

const n = (v: number) => (Math.round(v * 10) / 10).toString();

/** A moving mean over the last 20 samples (1 s): delivery comes in bursts after a loss is repaired. */
function smooth(run: LedbatRun, f: (s: LedbatSample) => number): (s: LedbatSample) => number {
  const means = new Map<LedbatSample, number>();
  let sum = 0;
  run.samples.forEach((s, i) => {
    sum += f(s);
    if (i >= 20) sum -= f(run.samples[i - 20] as LedbatSample);
    means.set(s, sum / Math.min(i + 1, 20));
  });
  return (s) => means.get(s) ?? 0;
}

export function ledbatSvg(run: LedbatRun): string {
  const R = LEDBAT_RUN;
  const out: string[] = [];
  const height = 60 + 3 * (PANEL + GAP) + 10;
  const x = (t: number) => LEFT + (t / R.durationS) * (WIDTH - LEFT - RIGHT);
  out.push(
    `<svg xmlns='http://www.w3.org/2000/svg' width='${WIDTH}' height='${height}' viewBox='0 0 ${WIDTH} ${height}'>`,
  );
  out.push(`<rect width='100%' height='100%' fill='white'/>`);
  out.push(
    `<text x='${LEFT}' y='24' ${FONT} font-size='15' font-weight='600' fill='${C.text}'>LEDBAT (utpx) and a NewReno flow through one ${R.bandwidthMbps} Mbit/s bottleneck</text>`,
    `<text x='${LEFT}' y='42' ${FONT} font-size='12' fill='${C.muted}'>simulator, seed ${R.seed}: ${(2 * R.delayUs) / 1000} ms round trip, drop-tail queue of ${R.queuePackets} × 1500 bytes; Reno runs from ${R.renoFromS} s to ${R.renoUntilS} s (shaded)</text>`,
  );
  const panels: Array<{
    title: string;
    unit: string;
    series: Array<{ label: string; color: string; value: (s: LedbatSample) => number }>;
    target?: number;
  }> = [
    {
      title: 'throughput, Mbit/s (mean over the last second)',
      unit: 'Mbit/s',
      series: [
        { label: 'utpx (LEDBAT)', color: C.utpx, value: smooth(run, (s) => s.utpxMbps) },
        { label: 'NewReno', color: C.reno, value: smooth(run, (s) => s.renoMbps) },
      ],
    },
    {
      title: "utpx's congestion window, KiB",
      unit: 'KiB',
      series: [{ label: 'cwnd', color: C.utpx, value: (s) => s.cwnd / 1024 }],
    },
    {
      title: 'queuing delay LEDBAT measures, ms',
      unit: 'ms',
      series: [{ label: 'queuing delay', color: C.delay, value: (s) => s.queuingDelayMs }],
      target: run.targetMs,
    },
  ];
  panels.forEach((p, i) => {
    const top = 60 + i * (PANEL + GAP) + 20;
    const bottom = top + PANEL;
    let max = 0;
    for (const s of run.samples) for (const ser of p.series) max = Math.max(max, ser.value(s));
    if (p.target !== undefined) max = Math.max(max, p.target * 1.2);
    const ticks = niceTicks(max, 4);
    const yMax = ticks[ticks.length - 1] as number;
    const y = (v: number) => bottom - (v / yMax) * PANEL;
    out.push(`<g data-panel='${i}'>`);
    out.push(
      `<rect x='${n(x(R.renoFromS))}' y='${top}' width='${n(x(R.renoUntilS) - x(R.renoFromS))}' height='${PANEL}' fill='${C.shade}'/>`,
    );
    out.push(
      `<text x='${LEFT}' y='${top - 8}' ${FONT} font-size='12' font-weight='600' fill='${C.text}'>${p.title}</text>`,
    );
    for (const t of ticks) {
      out.push(
        `<line x1='${LEFT}' x2='${WIDTH - RIGHT}' y1='${n(y(t))}' y2='${n(y(t))}' stroke='${C.grid}'/>`,
        `<text x='${LEFT - 6}' y='${n(y(t) + 4)}' ${FONT} font-size='10' text-anchor='end' fill='${C.muted}'>${t}</text>`,
      );
    }
    for (let t = 0; t <= R.durationS; t += 5) {
      out.push(
        `<text x='${n(x(t))}' y='${bottom + 14}' ${FONT} font-size='10' text-anchor='middle' fill='${C.muted}'>${t} s</text>`,
      );
    }
    if (p.target !== undefined) {
      out.push(
        `<line x1='${LEFT}' x2='${WIDTH - RIGHT}' y1='${n(y(p.target))}' y2='${n(y(p.target))}' stroke='${C.target}' stroke-dasharray='6 4' stroke-width='1.5'/>`,
        `<text x='${WIDTH - RIGHT - 4}' y='${n(y(p.target) - 5)}' ${FONT} font-size='11' text-anchor='end' fill='${C.target}'>target ${p.target} ms</text>`,
      );
    }
    p.series.forEach((ser, k) => {
      const d = run.samples.map((s, j) => `${j === 0 ? 'M' : 'L'}${n(x(s.t))} ${n(y(ser.value(s)))}`).join('');
      out.push(`<path d='${d}' fill='none' stroke='${ser.color}' stroke-width='1.4'/>`);
      const lx = LEFT + 10 + k * 150;
      out.push(
        `<line x1='${lx}' x2='${lx + 18}' y1='${top + 12}' y2='${top + 12}' stroke='${ser.color}' stroke-width='2.5'/>`,
        `<text x='${lx + 24}' y='${top + 16}' ${FONT} font-size='11' fill='${C.text}'>${ser.label}</text>`,
      );
    });
    out.push(`<line x1='${LEFT}' x2='${WIDTH - RIGHT}' y1='${bottom}' y2='${bottom}' stroke='${C.muted}'/>`);
    out.push('</g>');
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
