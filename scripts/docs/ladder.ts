/**
 * The walkthrough session as a ladder (sequence) diagram, hand-written SVG: A's lane on the left,
 * B's on the right, one row per event in the order it happened — a datagram leaving, a datagram
 * arriving, a state change — so packets sent in the same instant stay apart. Time runs down; long
 * silences are cut short and marked. Colours as in the playground: SYN violet, DATA blue, STATE
 * grey, a STATE with a SACK teal, FIN green, retransmissions orange, losses a red cross.
 */
import type { WalkPacket, Walkthrough } from './walkthrough.js';

const WIDTH = 960;
const LANE_A = 345;
const LANE_B = 655;
const ROW = 17;
const TOP = 70;
const BREAK_MS = 200;
const FONT = `font-family='ui-monospace, SFMono-Regular, Menlo, Consolas, monospace'`;
const COLORS = {
  SYN: '#7c3aed',
  DATA: '#2563eb',
  STATE: '#6b7280',
  SACK: '#0d9488',
  FIN: '#16a34a',
  RESET: '#dc2626',
  retransmit: '#ea580c',
  lost: '#dc2626',
  text: '#111827',
  muted: '#6b7280',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function color(p: WalkPacket): string {
  if (p.retransmit) return COLORS.retransmit;
  if (p.type === 'STATE' && p.sack) return COLORS.SACK;
  return COLORS[p.type];
}

/** The short name of a packet in the diagram. */
export function packetLabel(p: WalkPacket, synSeq: number): string {
  let name: string = p.type;
  if (p.type === 'STATE' && p.from === 'B' && p.ack === synSeq && p.n <= 3) name = 'SYN-ACK';
  const parts = [`#${p.n} ${name}`, `seq ${p.seq}`];
  if (p.payload > 0) parts.push(`(${p.payload} B)`);
  else parts.push(`ack ${p.ack}`);
  if (p.sack) parts.push(`SACK ${p.sack.length === 1 ? p.sack[0] : `${p.sack[0]}–${p.sack[p.sack.length - 1]}`}`);
  return parts.join(' ');
}

const RETRANSMIT_NAMES = { fast: 'fast retransmit', 'tail-probe': 'tail-loss probe', timeout: 'after a timeout' };

/** "connected (send finSent, receive open)" for the chart's dotted state names. */
export function shortState(state: string): string {
  const leaves = state.split(',');
  if (leaves.length === 1) return state.replace(/\./g, ' › ');
  const parts = leaves
    .map((l) => l.replace(/^connected\./, ''))
    .filter((l) => !l.startsWith('liveness.'))
    .map((l) => l.replace('.', ' '));
  return `connected (${parts.join(', ')})`;
}

export function ladderSvg(w: Walkthrough): string {
  const synSeq = w.packets.find((p) => p.type === 'SYN')?.seq ?? -1;
  const rows = w.timeline.filter((e) => !(e.kind === 'state' && e.state.trigger === 'xstate.init'));
  const ys: number[] = [];
  const breaks: Array<{ y: number; ms: number }> = [];
  let y = TOP;
  let lastMs = 0;
  for (const e of rows) {
    const t = e.kind === 'state' ? e.state.atMs : e.kind === 'send' ? e.packet.sentMs : (e.packet.arrivedMs as number);
    if (t - lastMs > BREAK_MS) {
      breaks.push({ y: y + 14, ms: t - lastMs });
      y += 34;
    } else if (t > lastMs) y += 4;
    lastMs = t;
    ys.push(y);
    y += ROW;
  }
  const height = y + 50;
  const out: string[] = [];
  out.push(
    `<svg xmlns='http://www.w3.org/2000/svg' width='${WIDTH}' height='${height}' viewBox='0 0 ${WIDTH} ${height}'>`,
  );
  out.push(`<rect width='100%' height='100%' fill='white'/>`);
  out.push(
    `<text x='${LANE_A}' y='28' ${FONT} font-size='14' font-weight='600' text-anchor='middle' fill='${COLORS.text}'>A (initiator)</text>`,
    `<text x='${LANE_B}' y='28' ${FONT} font-size='14' font-weight='600' text-anchor='middle' fill='${COLORS.text}'>B (acceptor)</text>`,
    `<text x='${LANE_A}' y='44' ${FONT} font-size='11' text-anchor='middle' fill='${COLORS.muted}'>10.0.0.1:40000</text>`,
    `<text x='${LANE_B}' y='44' ${FONT} font-size='11' text-anchor='middle' fill='${COLORS.muted}'>10.0.0.2:6881</text>`,
    `<text x='8' y='44' ${FONT} font-size='11' fill='${COLORS.muted}'>ms</text>`,
  );
  for (const x of [LANE_A, LANE_B]) {
    out.push(`<line x1='${x}' x2='${x}' y1='${TOP - 14}' y2='${y}' stroke='${COLORS.text}' stroke-width='1.5'/>`);
  }
  for (const b of breaks) {
    out.push(
      `<line x1='40' x2='${WIDTH - 10}' y1='${b.y}' y2='${b.y}' stroke='${COLORS.muted}' stroke-dasharray='4 4'/>`,
      `<rect x='${(LANE_A + LANE_B) / 2 - 70}' y='${b.y - 8}' width='140' height='16' fill='white'/>`,
      `<text x='${(LANE_A + LANE_B) / 2}' y='${b.y + 4}' ${FONT} font-size='11' text-anchor='middle' fill='${COLORS.muted}'>… ${Math.round(b.ms)} ms of silence …</text>`,
    );
  }
  const sendY = new Map<WalkPacket, number>();
  rows.forEach((e, i) => {
    if (e.kind === 'send') sendY.set(e.packet, ys[i] as number);
  });
  let lastLabelMs = -1;
  rows.forEach((e, i) => {
    const yy = ys[i] as number;
    const t = e.kind === 'state' ? e.state.atMs : e.kind === 'send' ? e.packet.sentMs : (e.packet.arrivedMs as number);
    if (t !== lastLabelMs) {
      out.push(`<text x='8' y='${yy + 4}' ${FONT} font-size='11' fill='${COLORS.muted}'>${t.toFixed(0)}</text>`);
      lastLabelMs = t;
    }
    if (e.kind === 'state') {
      const s = e.state;
      const x = s.side === 'A' ? LANE_A + 8 : LANE_B - 8;
      const anchor = s.side === 'A' ? 'start' : 'end';
      const label = `${s.side}: ${shortState(s.state)} ← ${s.trigger.replace(/^xstate\.after\.(\w+).*/, 'after $1')}`;
      out.push(
        `<text x='${x}' y='${yy + 4}' ${FONT} font-size='10.5' font-style='italic' text-anchor='${anchor}' fill='${COLORS.muted}'>${esc(label)}</text>`,
      );
      return;
    }
    const p = e.packet;
    if (e.kind === 'send') {
      const fromX = p.from === 'A' ? LANE_A : LANE_B;
      const labelX = p.from === 'A' ? LANE_A - 8 : LANE_B + 8;
      const anchor = p.from === 'A' ? 'end' : 'start';
      let label = packetLabel(p, synSeq);
      if (p.retransmit) label += ` ↻ ${RETRANSMIT_NAMES[p.retransmit]}`;
      out.push(
        `<circle cx='${fromX}' cy='${yy}' r='2.5' fill='${color(p)}'/>`,
        `<text x='${labelX}' y='${yy + 4}' ${FONT} font-size='10.5' text-anchor='${anchor}' fill='${color(p)}'>${esc(label)}</text>`,
      );
      if (p.lost) {
        // Half way down to where it would have arrived: a red cross.
        const toX = p.from === 'A' ? LANE_B : LANE_A;
        const mx = fromX + (toX - fromX) * 0.45;
        const my = yy + 2 * ROW * 0.45;
        out.push(
          `<line x1='${fromX}' y1='${yy}' x2='${mx}' y2='${my}' stroke='${color(p)}' stroke-width='1.5'/>`,
          `<path d='M${mx - 5} ${my - 5}L${mx + 5} ${my + 5}M${mx - 5} ${my + 5}L${mx + 5} ${my - 5}' stroke='${COLORS.lost}' stroke-width='2.5'/>`,
          `<text x='${mx}' y='${my - 9}' ${FONT} font-size='10' text-anchor='middle' fill='${COLORS.lost}'>lost</text>`,
        );
      } else if (p.afterClose) {
        const toX = p.from === 'A' ? LANE_B : LANE_A;
        out.push(
          `<line x1='${fromX}' y1='${yy}' x2='${toX}' y2='${yy + 2 * ROW}' stroke='${color(p)}' stroke-width='1.2' stroke-dasharray='3 3'/>`,
        );
      }
      return;
    }
    // Arrival: the line from the send row to here.
    const fromX = p.from === 'A' ? LANE_A : LANE_B;
    const toX = p.from === 'A' ? LANE_B : LANE_A;
    const y0 = sendY.get(p) as number;
    out.push(
      `<line x1='${fromX}' y1='${y0}' x2='${toX}' y2='${yy}' stroke='${color(p)}' stroke-width='1.5'/>`,
      arrowHead(fromX, y0, toX, yy, color(p)),
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function arrowHead(x0: number, y0: number, x1: number, y1: number, fill: string): string {
  const a = Math.atan2(y1 - y0, x1 - x0);
  const l = 8;
  const w = 3.5;
  const bx = x1 - l * Math.cos(a);
  const by = y1 - l * Math.sin(a);
  const px = -Math.sin(a) * w;
  const py = Math.cos(a) * w;
  const f = (v: number) => v.toFixed(1);
  return `<path d='M${f(x1)} ${f(y1)}L${f(bx + px)} ${f(by + py)}L${f(bx - px)} ${f(by - py)}Z' fill='${fill}'/>`;
}
