/**
 * `utpx` arguments → a command, with `node:util` parseArgs. Pure: main.ts decides what a bad
 * argument costs (usage on stderr, exit 2).
 */
import { parseArgs } from 'node:util';
import { MAX_PACKET_SIZE, MIN_PACKET_SIZE, type UtpSocketOptions } from '../io/config.js';

export const USAGE = `utpx: uTP (BEP 29) with LEDBAT from the shell, like nc or libutp's ucat

Usage:
  utpx listen [--port N] [--host H] [--output FILE] [--keep-open] [options]
  utpx send HOST PORT [FILE|-] [options]
  utpx plot TRACE [--out FILE.svg] [--conn KEY]
  utpx --help | --version

  listen   Accept one connection on UDP port N and write what arrives to FILE or
           stdout; stdin goes back to the peer. Exits when the peer has ended.
           With --keep-open, serves connections one after another (stdin unused).
  send     Connect to HOST PORT, send FILE (or stdin when FILE is - or absent),
           end, and print what the peer sends back on stdout. Exits once both
           sides have ended and our last byte is acknowledged.
  plot     Draw a --trace file as SVG: time-sequence graph, cwnd, RTT and queuing
           delay against LEDBAT's 100 ms target (default out: TRACE.svg).

Options:
  -p, --port N             listen: UDP port (default 0: any free port, printed)
      --host H             listen: address to bind (default 0.0.0.0)
  -o, --output FILE        listen: write received bytes to FILE, not stdout
  -k, --keep-open          listen: after a connection, accept the next one
      --max-packet-size N  largest uTP datagram in bytes, 20-byte header included
                           (64..65507; default 16384 on loopback, else 1472
                           over IPv4, 1452 over IPv6)
      --trace FILE         listen/send: write each packet, state change and a
                           cwnd/RTT/delay sample every 20 ms as JSON lines
                           (format: docs/trace.md)
      --inspect            listen/send: show the connection statechart in the
                           Stately inspector (optional dependency
                           @statelyai/inspect); stays up until Ctrl-C
      --inspect-port N     port of the local inspector page (default 8080)
  -q, --quiet              no progress line, no summary
      --out FILE           plot: where to write the SVG (- for stdout)
      --conn KEY           plot: which connection (default: the one with most data)
  -h, --help               this text
      --version            the version

On a terminal a live progress line goes to stderr, and a summary at the end
(off a terminal only the summary). Exit status: 0 done, 1 network or file
error (one line on stderr), 2 bad arguments.
`;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** What listen and send share. */
export interface TransferOptions {
  maxPacketSize?: number;
  trace?: string;
  inspect?: { port: number };
  quiet: boolean;
}

export interface ListenCommand extends TransferOptions {
  kind: 'listen';
  port: number;
  host: string;
  output?: string;
  keepOpen: boolean;
}

export interface SendCommand extends TransferOptions {
  kind: 'send';
  host: string;
  port: number;
  /** Undefined or '-': stdin. */
  file?: string;
}

export interface PlotCommand {
  kind: 'plot';
  trace: string;
  out?: string;
  conn?: string;
}

export type Command = { kind: 'help' } | { kind: 'version' } | ListenCommand | SendCommand | PlotCommand;

export { MAX_PACKET_SIZE, MIN_PACKET_SIZE };
export const DEFAULT_INSPECT_PORT = 8080;

const OPTIONS = {
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  output: { type: 'string', short: 'o' },
  'keep-open': { type: 'boolean', short: 'k' },
  'max-packet-size': { type: 'string' },
  trace: { type: 'string' },
  inspect: { type: 'boolean' },
  'inspect-port': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  out: { type: 'string' },
  conn: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

type OptionName = keyof typeof OPTIONS;

/** Options each command takes; any other one is a usage error rather than silently ignored. */
const ALLOWED: Record<'listen' | 'send' | 'plot', readonly OptionName[]> = {
  listen: [
    'port',
    'host',
    'output',
    'keep-open',
    'max-packet-size',
    'trace',
    'inspect',
    'inspect-port',
    'quiet',
    'help',
  ],
  send: ['max-packet-size', 'trace', 'inspect', 'inspect-port', 'quiet', 'help'],
  plot: ['out', 'conn', 'help'],
};

export function parseCommand(argv: readonly string[]): Command {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    // parseArgs' messages name the option ("Unknown option '--x'"); its codes are not for users.
    throw new UsageError((err as Error).message.split('\n')[0] as string);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  const [name, ...args] = positionals;
  if (name === undefined) throw new UsageError('no command given');
  if (name !== 'listen' && name !== 'send' && name !== 'plot') throw new UsageError(`unknown command '${name}'`);
  for (const key of Object.keys(values) as OptionName[]) {
    if (!ALLOWED[name].includes(key)) throw new UsageError(`${name} does not take --${key}`);
  }

  if (name === 'plot') {
    if (args.length !== 1) throw new UsageError('plot takes one TRACE file');
    return {
      kind: 'plot',
      trace: args[0] as string,
      ...(values.out !== undefined ? { out: values.out } : {}),
      ...(values.conn !== undefined ? { conn: values.conn } : {}),
    };
  }

  const transfer: TransferOptions = { quiet: values.quiet ?? false };
  if (values['max-packet-size'] !== undefined) {
    transfer.maxPacketSize = integer('--max-packet-size', values['max-packet-size'], MIN_PACKET_SIZE, MAX_PACKET_SIZE);
  }
  if (values.trace !== undefined) transfer.trace = values.trace;
  if (values.inspect || values['inspect-port'] !== undefined) {
    const port = values['inspect-port'];
    transfer.inspect = { port: port === undefined ? DEFAULT_INSPECT_PORT : integer('--inspect-port', port, 1, 65535) };
  }

  if (name === 'listen') {
    if (args.length > 0) throw new UsageError(`listen takes no arguments (got '${args[0]}'); use --port`);
    return {
      kind: 'listen',
      ...transfer,
      port: values.port === undefined ? 0 : integer('--port', values.port, 0, 65535),
      host: values.host ?? '0.0.0.0',
      ...(values.output !== undefined ? { output: values.output } : {}),
      keepOpen: values['keep-open'] ?? false,
    };
  }

  if (args.length < 2) throw new UsageError('send needs HOST and PORT');
  if (args.length > 3) throw new UsageError('send takes HOST PORT [FILE|-]');
  const [host, port, file] = args as [string, string, string | undefined];
  if (host === '') throw new UsageError('empty HOST');
  return {
    kind: 'send',
    ...transfer,
    host,
    port: integer('PORT', port, 1, 65535),
    ...(file !== undefined ? { file } : {}),
  };
}

function integer(name: string, text: string, min: number, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${name} must be a whole number from ${min} to ${max} (got '${text}')`);
  }
  return n;
}

/** `--max-packet-size` as socket options: the library's `maxPacketSize` (the datagram cap for every peer). */
export function packetSizeOptions(maxPacketSize: number | undefined): UtpSocketOptions {
  return maxPacketSize === undefined ? {} : { maxPacketSize };
}
