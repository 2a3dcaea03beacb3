/**
 * `npm run docs`: regenerates everything in the repository that is generated from the code.
 *
 *   docs/statecharts/connection.{md,mmd}   the lifecycle chart (scripts/draw-chart.ts)
 *   docs/protocol.md                       the blocks between `<!-- BEGIN generated:NAME -->` markers:
 *                                          the traced walkthrough session (scripts/docs/walkthrough.ts)
 *   docs/img/*.svg                         its ladder and time–sequence graph, LEDBAT next to Reno
 *   docs/api/**                            the API reference (TypeDoc, scripts/docs/api.ts)
 *   every code link in the Markdown        `[`Symbol`](../src/x.ts#Lm-Ln)` anchors (scripts/docs/code-links.ts)
 *
 * Deterministic: seeded simulator runs, no dates, no absolute paths. test/docs/docs.test.ts
 * regenerates everything in memory and fails when a committed file differs (or when docs/api has a
 * file the reference no longer has): run `npm run docs` and commit.
 *
 *   npm run docs              # write the files
 *   npm run docs -- --check   # write nothing; list stale files, exit 1 if any
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recordToEvent } from '../src/trace/format.js';
import { plotTrace } from '../src/trace/plot.js';
import { renderApi } from './docs/api.js';
import { codeLink, refreshCodeLinks, resetCodeLinks } from './docs/code-links.js';
import { ladderSvg, packetLabel, shortState } from './docs/ladder.js';
import { ledbatSvg } from './docs/ledbat-plot.js';
import { LEDBAT_RUN, type LedbatRun, runLedbat } from './docs/ledbat-run.js';
import { runWalkthrough, WALK, type WalkPacket, type Walkthrough } from './docs/walkthrough.js';
import { chartPage, drawChart } from './draw-chart.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Folders whose every file is generated: a file there that is not generated any more is stale. */
export const GENERATED_DIRS = ['docs/api'];

/** Hand-written Markdown whose code links are kept right (generated pages get theirs when written). */
export const LINKED_MARKDOWN = ['README.md', 'docs/design.md', 'docs/trace.md', 'examples/README.md', 'web/README.md'];

const PROTOCOL = 'docs/protocol.md';

// ---------------------------------------------------------------------------------------- blocks

/** Replaces the body of each `<!-- BEGIN generated:NAME -->` … `<!-- END generated:NAME -->` block. */
export function fillBlocks(path: string, text: string, blocks: Record<string, string>): string {
  const used = new Set<string>();
  const out = text.replace(
    /(<!-- BEGIN generated:([\w-]+)[^>]*-->\n)[\s\S]*?(<!-- END generated:\2 -->)/g,
    (_whole, open: string, name: string, close: string) => {
      const body = blocks[name];
      if (body === undefined) throw new Error(`${path}: no generator for block ${name}`);
      used.add(name);
      return `${open}${body.endsWith('\n') ? body : `${body}\n`}${close}`;
    },
  );
  const missing = Object.keys(blocks).filter((n) => !used.has(n));
  if (missing.length > 0) throw new Error(`${path}: blocks ${missing.join(', ')} have no markers`);
  return out;
}

const link = (codeFile: string, symbol: string, text?: string) => codeLink(ROOT, PROTOCOL, codeFile, symbol, text);

const CORE = 'src/core/connection.ts';

/** What each kind of packet in the session is, and the code that makes it. */
function whatHappens(w: Walkthrough, p: WalkPacket): string {
  const syn = w.packets.find((q) => q.type === 'SYN') as WalkPacket;
  const notes: string[] = [];
  if (p.type === 'SYN') notes.push(`the SYN (${link(CORE, 'ConnectionCore.sendSyn', 'sendSyn')})`);
  else if (p.from === 'B' && p.type === 'STATE' && p.ack === syn.seq && p.n === w.packets.indexOf(syn) + 2) {
    notes.push(
      `the SYN-ACK, from the SYN queue (${link('src/endpoint/endpoint.ts', 'Endpoint.sendSynAck', 'Endpoint.sendSynAck')})`,
    );
  } else if (p.retransmit === 'fast') {
    notes.push(
      `fast retransmit of the hole (${link('src/core/in-flight.ts', 'InFlightPackets.selectiveAck', 'selectiveAck')})`,
    );
  } else if (p.retransmit === 'tail-probe') {
    notes.push(
      `tail-loss probe: no ack for 2·SRTT, then for twice that (${link(CORE, 'ConnectionCore.onTailProbe', 'onTailProbe')})`,
    );
  } else if (p.retransmit === 'timeout') {
    notes.push(`retransmission timeout (${link(CORE, 'ConnectionCore.onRto', 'onRto')})`);
  } else if (p.type === 'DATA') {
    notes.push(
      p.n === w.packets.find((q) => q.type === 'DATA')?.n
        ? `first data; carries the ack of the SYN-ACK (${link(CORE, 'ConnectionCore.flushData', 'flushData')})`
        : 'data',
    );
  } else if (p.type === 'STATE' && p.sack) {
    notes.push(
      `ack with a SACK of ${p.sack.length} (${link('src/core/reorder-buffer.ts', 'ReorderBuffer.writeSack', 'writeSack')})`,
    );
  } else if (p.type === 'STATE') {
    const bothFins =
      w.packets.some((q) => q.from === p.from && q.type === 'FIN' && q.n < p.n) &&
      w.packets.some((q) => q.from !== p.from && q.type === 'FIN' && q.n < p.n);
    const twin = w.packets.find((q) => q.n === p.n - 1 && q.type === 'STATE' && q.from === p.from);
    if (bothFins && twin !== undefined) {
      notes.push(`the same ack again with the FIN's seq_nr (${link(CORE, 'ConnectionCore.sendState', 'sendState')})`);
    } else if (bothFins) notes.push("acks the peer's FIN");
    else notes.push('cumulative ack');
  } else if (p.type === 'FIN') notes.push(p.from === 'A' ? "A's FIN: end of A's stream" : "B's FIN: end of B's stream");
  if (p.lost) notes.push('**lost**');
  if (p.afterClose) notes.push("arrives after B closed: B's linger record takes it");
  return notes.join('; ');
}

function packetRows(w: Walkthrough, packets: readonly WalkPacket[]): string {
  const lines = [
    '| # | sent (ms) | arrives (ms) | from → to | type | connection_id | seq_nr | ack_nr | payload | wnd_size | SACK | what happens |',
    '| ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ];
  for (const p of packets) {
    const id = ((p.bytes[2] as number) << 8) | (p.bytes[3] as number);
    lines.push(
      `| ${p.n} | ${p.sentMs} | ${p.lost ? '—' : p.arrivedMs} | ${p.from} → ${p.from === 'A' ? 'B' : 'A'} | ${p.type}${p.retransmit ? ' ↻' : ''} | ${id} | ${p.seq} | ${p.ack} | ${p.payload} | ${p.wnd} | ${p.sack ? p.sack.join(', ') : ''} | ${whatHappens(w, p)} |`,
    );
  }
  return lines.join('\n');
}

function stepRows(w: Walkthrough, from: number, to: number): string {
  return packetRows(
    w,
    w.packets.filter((p) => p.n >= from && p.n <= to),
  );
}

/** The packets each step of the walkthrough shows, found by what they are (not by number). */
function steps(w: Walkthrough): Record<'handshake' | 'loss' | 'fast' | 'timeout' | 'close', [number, number]> {
  const P = w.packets;
  const firstData = P.find((p) => p.type === 'DATA') as WalkPacket;
  const firstAckOfData = P.find((p) => p.n > firstData.n && p.from === 'B') as WalkPacket;
  const fast = P.find((p) => p.retransmit === 'fast') as WalkPacket;
  const repaired = P.find((p) => p.n > fast.n && p.from === 'B' && p.type === 'STATE') as WalkPacket;
  const finA = P.find((p) => p.from === 'A' && p.type === 'FIN') as WalkPacket;
  const rto = P.find((p) => p.retransmit === 'timeout') as WalkPacket;
  const finB = P.find((p) => p.from === 'B' && p.type === 'FIN') as WalkPacket;
  return {
    handshake: [1, firstAckOfData.n],
    loss: [firstAckOfData.n + 1, fast.n - 1],
    fast: [fast.n, repaired.n],
    timeout: [finA.n, rto.n],
    close: [finB.n, (P[P.length - 1] as WalkPacket).n],
  };
}

function hex(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const row = [...bytes.subarray(i, i + 16)].map((b) => b.toString(16).padStart(2, '0'));
    lines.push(
      `${i.toString(16).padStart(4, '0')}  ${row.slice(0, 8).join(' ')}${row.length > 8 ? `  ${row.slice(8).join(' ')}` : ''}`,
    );
  }
  return lines.join('\n');
}

const HEADER_FIELDS = [
  { name: 'type', at: 0, size: '4 bits (high)', accessor: 'type' },
  { name: 'ver', at: 0, size: '4 bits (low)', accessor: 'version' },
  { name: 'extension', at: 1, size: 1, accessor: 'extension' },
  { name: 'connection_id', at: 2, size: 2, accessor: 'connectionId' },
  { name: 'timestamp_microseconds', at: 4, size: 4, accessor: 'timestamp' },
  { name: 'timestamp_difference_microseconds', at: 8, size: 4, accessor: 'timestampDiff' },
  { name: 'wnd_size', at: 12, size: 4, accessor: 'windowSize' },
  { name: 'seq_nr', at: 16, size: 2, accessor: 'seqNr' },
  { name: 'ack_nr', at: 18, size: 2, accessor: 'ackNr' },
] as const;

const TYPE_NAMES = ['ST_DATA', 'ST_FIN', 'ST_STATE', 'ST_RESET', 'ST_SYN'];

/** One packet's bytes, then every field decoded from them. */
function decodedPacket(p: WalkPacket, title: string): string {
  const b = p.bytes;
  const u16 = (at: number) => ((b[at] as number) << 8) | (b[at + 1] as number);
  const u32 = (at: number) =>
    (((b[at] as number) << 24) |
      ((b[at + 1] as number) << 16) |
      ((b[at + 2] as number) << 8) |
      (b[at + 3] as number)) >>>
    0;
  const value = (f: (typeof HEADER_FIELDS)[number]): string => {
    switch (f.name) {
      case 'type':
        return `${(b[0] as number) >> 4} = ${TYPE_NAMES[(b[0] as number) >> 4]}`;
      case 'ver':
        return String((b[0] as number) & 0xf);
      case 'extension':
        return `${b[1]}${b[1] === 0 ? ' (none)' : b[1] === 1 ? ' (selective ack follows)' : b[1] === 2 ? ' (extension bits follow)' : ''}`;
      case 'connection_id':
      case 'seq_nr':
      case 'ack_nr':
        return String(u16(f.at));
      default:
        return String(u32(f.at));
    }
  };
  const lines = [
    `${title} (${b.length} bytes):`,
    '',
    '```',
    hex(b),
    '```',
    '',
    '| bytes | field | value |',
    '| --- | --- | --- |',
  ];
  for (const f of HEADER_FIELDS) {
    const span = typeof f.size === 'number' ? (f.size === 1 ? `${f.at}` : `${f.at}–${f.at + f.size - 1}`) : `${f.at}`;
    lines.push(`| ${span} | \`${f.name}\` | ${value(f)} |`);
  }
  // The extension chain.
  let ext = b[1] as number;
  let at = 20;
  while (ext !== 0 && at + 2 <= b.length) {
    const next = b[at] as number;
    const len = b[at + 1] as number;
    const data = [...b.subarray(at + 2, at + 2 + len)].map((x) => x.toString(2).padStart(8, '0'));
    lines.push(`| ${at} | next extension | ${next}${next === 0 ? ' (none)' : ''} |`);
    lines.push(`| ${at + 1} | extension length | ${len} |`);
    if (ext === 1) {
      const acked = p.sack ?? [];
      lines.push(
        `| ${at + 2}–${at + 1 + len} | SACK bitmask | \`${data.join(' ')}\`: bit k (least significant bit first in each byte) = seq_nr ack_nr + 2 + k arrived → ${acked.join(', ')} |`,
      );
    } else if (ext === 2) {
      lines.push(
        `| ${at + 2}–${at + 1 + len} | extension bits | \`${data.join(' ')}\`: byte 7, bit 0 set = "I read datagrams up to 64 KiB whole" (utpx's large-datagram bit) |`,
      );
    }
    ext = next;
    at += 2 + len;
  }
  if (at < b.length) lines.push(`| ${at}–${b.length - 1} | payload | ${b.length - at} bytes |`);
  return lines.join('\n');
}

function statesTable(w: Walkthrough): string {
  const lines = ['| ms | side | state | caused by |', '| ---: | --- | --- | --- |'];
  for (const s of w.states) {
    if (s.trigger === 'xstate.init') continue;
    lines.push(`| ${s.atMs} | ${s.side} | ${shortState(s.state)} | \`${s.trigger}\` |`);
  }
  return lines.join('\n');
}

function sessionSummary(w: Walkthrough): string {
  const a = w.statsA;
  return [
    `Seed ${WALK.seed}; A = ${WALK.hostA}:${WALK.portA}, B = ${WALK.hostB}:${WALK.portB}; ${WALK.delayUs / 1000} ms each way`,
    `(a ${(2 * WALK.delayUs) / 1000} ms round trip), no random loss. Datagrams of ${WALK.packetSize} bytes (header + payload, no`,
    `path MTU probing above it), so each DATA carries ${WALK.packetSize - 20} bytes; A writes ${WALK.packets} packets' worth`,
    `(${w.delivered} bytes) and ends. The network loses A's ${ordinal(WALK.lostData)} DATA packet and the first ${WALK.lostFins} transmissions of A's FIN.`,
    `At the end A counts ${a.packetsSent} datagrams sent, ${a.retransmits} retransmissions after a detected loss`,
    `(${a.fastRetransmits} fast), ${a.tailProbes} tail-loss probe${a.tailProbes === 1 ? '' : 's'} and ${a.timeouts} timeout${a.timeouts === 1 ? '' : 's'}; B delivered all ${w.delivered} bytes.`,
  ].join('\n');
}

function ordinal(n: number): string {
  return `${n}${n === 1 ? 'st' : n === 2 ? 'nd' : n === 3 ? 'rd' : 'th'}`;
}

function ledbatTable(run: LedbatRun): string {
  const lines = [
    '| phase (first 2 s of each left out) | utpx, Mbit/s | Reno, Mbit/s | utpx cwnd, KiB | queuing delay LEDBAT measures, ms |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const p of run.phases) {
    lines.push(
      `| ${p.name} | ${p.utpxMbps.toFixed(1)} | ${p.renoMbps.toFixed(1)} | ${(p.cwnd / 1024).toFixed(0)} | ${p.queuingDelayMs.toFixed(0)} |`,
    );
  }
  const R = LEDBAT_RUN;
  lines.push(
    '',
    `Seed ${R.seed}; ${R.bandwidthMbps} Mbit/s, ${(2 * R.delayUs) / 1000} ms round trip, a drop-tail queue of ${R.queuePackets} × 1500 bytes; Reno from ${R.renoFromS} s to ${R.renoUntilS} s of ${R.durationS} s.`,
  );
  return lines.join('\n');
}

/** A's side of the walkthrough as a trace file, for the CLI's time–sequence plot. */
function walkthroughTracePlot(w: Walkthrough): string {
  // A's view: what it sent, and what reached it.
  const events = w.packets
    .filter((p) => p.from === 'A' || (p.arrivedMs !== undefined && !p.afterClose))
    .flatMap((p) => {
      const out = p.from === 'A';
      const at = out ? p.sentMs : (p.arrivedMs as number);
      return [
        recordToEvent(
          {
            kind: 'packet',
            dir: out ? 'out' : 'in',
            at: at * 1000,
            type: p.type,
            connectionId: 0,
            seqNr: p.seq,
            ackNr: p.ack,
            windowSize: p.wnd,
            length: p.size,
            payload: p.payload,
            ...(p.sack ? { sack: p.sack } : {}),
            retransmit: p.retransmit !== undefined,
            remoteAddress: WALK.hostB,
            remotePort: WALK.portB,
            localId: 1,
          },
          0,
        ),
      ];
    })
    .sort((x, y) => x.time - y.time);
  return plotTrace({
    header: {
      format: 'utpx-trace',
      version: 1,
      timeUnit: 'us',
      referenceTimeUs: 0,
      title: 'the walkthrough session, A (sender)',
    },
    events,
  });
}

// ---------------------------------------------------------------------------------------- all

export async function generateDocs(): Promise<Map<string, string>> {
  resetCodeLinks();
  const files = new Map<string, string>();
  const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

  // The chart.
  const mermaid = drawChart();
  files.set('docs/statecharts/connection.mmd', mermaid);
  files.set('docs/statecharts/connection.md', chartPage(mermaid));

  // The walkthrough and LEDBAT.
  const w = runWalkthrough();
  const ledbat = runLedbat();
  files.set('docs/img/walkthrough-ladder.svg', ladderSvg(w));
  files.set('docs/img/walkthrough-sequence.svg', walkthroughTracePlot(w));
  files.set('docs/img/ledbat-reno.svg', ledbatSvg(ledbat));
  const st = steps(w);
  const syn = w.packets.find((p) => p.type === 'SYN') as WalkPacket;
  const sackState = w.packets.find((p) => p.type === 'STATE' && (p.sack?.length ?? 0) > 1) as WalkPacket;
  const blocks: Record<string, string> = {
    session: sessionSummary(w),
    packets: packetRows(w, w.packets),
    states: statesTable(w),
    'step-handshake': stepRows(w, ...st.handshake),
    'step-loss': stepRows(w, ...st.loss),
    'step-fast': stepRows(w, ...st.fast),
    'step-timeout': stepRows(w, ...st.timeout),
    'step-close': stepRows(w, ...st.close),
    'syn-hex': decodedPacket(syn, `A's SYN, packet ${syn.n} (${packetLabel(syn, syn.seq)})`),
    'sack-hex': decodedPacket(
      sackState,
      `B's ack with a SACK, packet ${sackState.n} (${packetLabel(sackState, syn.seq)})`,
    ),
    ledbat: ledbatTable(ledbat),
  };
  files.set(PROTOCOL, refreshCodeLinks(ROOT, PROTOCOL, fillBlocks(PROTOCOL, read(PROTOCOL), blocks)));

  for (const md of LINKED_MARKDOWN) {
    if (existsSync(join(ROOT, md))) files.set(md, refreshCodeLinks(ROOT, md, read(md)));
  }

  for (const [path, text] of await renderApi(ROOT)) files.set(`docs/api/${path}`, text);
  return files;
}

/** Files under the generated folders on disk. */
export function generatedFilesOnDisk(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(join(ROOT, dir))) return;
    for (const name of readdirSync(join(ROOT, dir))) {
      const p = `${dir}/${name}`;
      if (statSync(join(ROOT, p)).isDirectory()) walk(p);
      else found.push(p);
    }
  };
  for (const d of GENERATED_DIRS) walk(d);
  return found.sort();
}

/** Paths whose committed content differs from what the code generates (or that should not exist). */
export function staleFiles(files: Map<string, string>): string[] {
  const stale: string[] = [];
  for (const [path, text] of files) {
    const abs = join(ROOT, path);
    if (!existsSync(abs) || readFileSync(abs, 'utf8') !== text) stale.push(path);
  }
  for (const path of generatedFilesOnDisk()) if (!files.has(path)) stale.push(path);
  return stale;
}

async function main(): Promise<void> {
  const started = performance.now();
  const check = process.argv.includes('--check');
  const files = await generateDocs();
  const stale = staleFiles(files);
  if (check) {
    for (const p of stale) console.log(`stale: ${p}`);
    process.exitCode = stale.length > 0 ? 1 : 0;
    return;
  }
  for (const path of stale) {
    const abs = join(ROOT, path);
    const text = files.get(path);
    if (text === undefined) rmSync(abs);
    else {
      mkdirSync(dirname(abs), { recursive: true });
      writeFileSync(abs, text);
    }
  }
  const ms = Math.round(performance.now() - started);
  console.log(`npm run docs: ${files.size} files generated, ${stale.length} changed (${ms} ms)`);
  for (const p of stale) console.log(`  ${relative(ROOT, join(ROOT, p))}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
