/**
 * A run as a trace file and back: the header and every event as JSON lines (src/trace/format.ts,
 * the format `utpx plot` reads), and a loaded file's text as a Trace to replay.
 */
import { parseTrace, serializeEvent, type Trace } from './engine.js';
import type { Run } from './run.js';

export function traceText(run: Run): string {
  const lines = [serializeEvent(run.header)];
  for (const e of run.events) lines.push(serializeEvent(e));
  return `${lines.join('\n')}\n`;
}

/** Throws TraceParseError (with the line number) on a file that is not a utpx trace. */
export function readTrace(text: string): Trace {
  return parseTrace(text);
}

/** A file name for the export: what was simulated, without characters file systems dislike. */
export function traceFileName(run: Run): string {
  const base = (run.header.title ?? 'utpx-trace').replace(/^utpx playground: /, '');
  const slug = base
    .replace(/[^A-Za-z0-9.]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80);
  return `utpx-${slug || 'trace'}.jsonl`;
}
