#!/usr/bin/env node
/**
 * The `utpx` command: `listen`, `send` and `plot` (USAGE in args.ts says what each does). Exit
 * status 0 when done, 1 for a network or file error (one line on stderr), 2 for bad arguments
 * (the reason and the usage on stderr).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseTrace } from '../trace/format.js';
import { plotTrace } from '../trace/plot.js';
import { type Command, type PlotCommand, parseCommand, USAGE, UsageError } from './args.js';
import { describeError } from './errors.js';
import { runListen, runSend, stopEarly } from './transfer.js';

/** The version in package.json, found from this file in src/cli/ (tsx) or dist/ (built). */
function version(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'utpx' && pkg.version) return pkg.version;
    } catch {
      // not this one
    }
  }
  return 'unknown';
}

function runPlot(cmd: PlotCommand): number {
  const trace = parseTrace(readFileSync(cmd.trace, 'utf8'));
  const svg = plotTrace(trace, cmd.conn !== undefined ? { conn: cmd.conn } : {});
  if (cmd.out === '-') {
    process.stdout.write(svg);
    return 0;
  }
  const out = cmd.out ?? `${cmd.trace.replace(/\.(jsonl|json|ndjson|trace)$/i, '')}.svg`;
  writeFileSync(out, svg);
  process.stderr.write(`utpx: wrote ${out}\n`);
  return 0;
}

async function run(command: Command): Promise<number> {
  switch (command.kind) {
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case 'version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case 'plot':
      return runPlot(command);
    case 'listen':
      return runListen(command);
    case 'send':
      return runSend(command);
  }
}

/** Exit once what was written to stdout has gone out (a pipe may still hold it). */
function exit(status: number): void {
  process.stdout.write('', () => process.exit(status));
}

function main(argv: string[]): void {
  let command: Command;
  try {
    command = parseCommand(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`utpx: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  let interrupted = false;
  const stop = (note: string, status?: number): void => {
    if (interrupted) return;
    interrupted = true;
    stopEarly(note, status).then(
      (s) => process.exit(s),
      () => process.exit(130),
    );
  };
  // A reader that went away (`utpx listen | head`) ends the transfer, and the process with 0, as
  // a SIGPIPE would end it without a word; the peer gets a RESET rather than waiting to time out.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') stop('output closed', 0);
    else {
      process.stderr.write(`${describeError(err, 'stdout')}\n`);
      stop('stdout failed', 1);
    }
  });
  process.once('SIGINT', () => stop('interrupted'));
  run(command).then(
    (status) => {
      if (!interrupted) exit(status);
    },
    (err: Error) => {
      if (interrupted) return;
      process.stderr.write(`${describeError(err)}\n`);
      exit(1);
    },
  );
}

main(process.argv.slice(2));
