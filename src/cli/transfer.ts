/**
 * `utpx listen` and `utpx send`: nc-style byte pipes over one uTP connection. Each returns the exit
 * status; errors that end a transfer are printed here as one line, since only here is it known
 * which peer they concern.
 */
import { closeSync, createReadStream, createWriteStream, fstatSync, openSync, type WriteStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { connect, createServer, type Server } from '../io/server.js';
import type { Socket } from '../io/socket.js';
import type { UtpSocketOptions } from '../io/utp-socket.js';
import type { ConnectionTraceRecord } from '../machines/connection.js';
import { type ListenCommand, packetSizeOptions, type SendCommand, type TransferOptions } from './args.js';
import { describeError } from './errors.js';
import { type Inspector, startInspector } from './inspect.js';
import { formatBytes, Progress, progressMode, type TransferSample } from './progress.js';
import { TraceWriter } from './trace-writer.js';

/** Stops a transfer early: the summary so far, a RESET to the peer, the output and trace files' last bytes. */
let interrupted: ((note: string) => Promise<number>) | undefined;
/** Set once stopping early: the errors and closes that winding up causes are not reported. */
let interrupting = false;

/**
 * Stop the transfer in progress (Ctrl-C, or stdout's reader gone) and resolve with the exit status:
 * `status`, or for Ctrl-C 130 unless the transfer had already finished.
 */
export function stopEarly(note: string, status?: number): Promise<number> {
  interrupting = true;
  if (interrupted === undefined) return Promise.resolve(status ?? 130);
  return interrupted(note).then((s) => status ?? s);
}

/** One line on stderr, erasing the live progress line first so they do not mix. */
function note(text: string, progress?: Progress): void {
  progress?.clear();
  process.stderr.write(`${text}\n`);
}

interface Session {
  tracer: TraceWriter | undefined;
  inspector: Inspector | undefined;
  progress: Progress | undefined;
  /** The connection in progress, reset on Ctrl-C so the peer stops at once instead of timing out. */
  socket: Socket | undefined;
  /** listen --output: written out before exiting on Ctrl-C, as it would be at the end. */
  output: WriteStream | undefined;
  /** The exit status to use if interrupted now. */
  status: number;
}

async function openSession(opts: TransferOptions, vantagePoint: string, title: string): Promise<Session> {
  const session: Session = {
    tracer: undefined,
    inspector: undefined,
    progress: undefined,
    socket: undefined,
    output: undefined,
    status: 130,
  };
  if (opts.trace !== undefined) session.tracer = new TraceWriter(opts.trace, { vantagePoint, title });
  interrupted = async (note) => {
    session.progress?.finish(note);
    const socket = session.socket;
    if (socket !== undefined && !socket.destroyed) {
      // With an error, destroy() resets the peer; the RESET goes out on the next flush.
      socket.destroy(new Error('interrupted'));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (session.output !== undefined) await endOutput(session.output).catch(() => {});
    closeSession(session);
    return session.status;
  };
  if (opts.inspect !== undefined) {
    session.inspector = await startInspector(opts.inspect.port);
    if (!opts.quiet) note(`utpx: Stately inspector at ${session.inspector.url} (open it in a browser)`);
  }
  return session;
}

function closeSession(session: Session): void {
  session.tracer?.close();
  session.inspector?.stop();
}

/**
 * With --inspect the process stays up after the transfer, so the inspector page can still be
 * opened or looked at; Ctrl-C then exits with the transfer's status.
 */
async function finishSession(session: Session, opts: TransferOptions, status: number): Promise<number> {
  session.tracer?.close();
  if (session.inspector === undefined) return status;
  session.status = status;
  if (!opts.quiet) note(`utpx: done; the inspector stays at ${session.inspector.url} until Ctrl-C`);
  return new Promise<number>(() => {});
}

function socketOptions(
  opts: TransferOptions,
  session: Session,
  extraTrace?: (r: ConnectionTraceRecord) => void,
): UtpSocketOptions {
  const tracer = session.tracer?.trace;
  const trace =
    tracer && extraTrace
      ? (r: ConnectionTraceRecord) => {
          tracer(r);
          extraTrace(r);
        }
      : (tracer ?? extraTrace);
  return {
    ...packetSizeOptions(opts.maxPacketSize),
    ...(trace ? { trace } : {}),
    ...(session.inspector ? { inspect: session.inspector.inspect } : {}),
  };
}

function sample(socket: Socket, bytes: number, sending: boolean): TransferSample {
  const s = socket.connection?.stats();
  return {
    bytes,
    // A receiver's window is for data it never sends: shown as "-" rather than a misleading figure.
    cwnd: s !== undefined && (sending || socket.bytesWritten > 0) ? s.cwnd : 0,
    srttUs: s?.srttUs ?? 0,
    queuingDelayUs: s?.queuingDelayUs ?? 0,
    // Packets sent again: after a detected loss, and the tail-loss probe's resend of the last packet.
    retransmits: s === undefined ? 0 : s.retransmits + s.tailProbes,
  };
}

/** Resolves with 0 when the socket has closed cleanly, 1 (after printing one line) on an error. */
function settled(socket: Socket, progress: Progress, note?: () => string | undefined): Promise<number> {
  return new Promise((resolve) => {
    let done = false;
    socket.once('error', (err: Error) => {
      if (done || interrupting) return;
      done = true;
      progress.abort();
      process.stderr.write(`${describeError(err)}\n`);
      resolve(1);
    });
    socket.once('close', () => {
      if (done || interrupting) return;
      done = true;
      progress.finish(note?.());
      resolve(0);
    });
  });
}

// ---------------------------------------------------------------- send

export async function runSend(cmd: SendCommand): Promise<number> {
  const fromStdin = cmd.file === undefined || cmd.file === '-';
  // Opened before anything else, so a missing file fails at once.
  const fd = fromStdin ? 0 : openSync(cmd.file as string, 'r');
  const st = fstatSync(fd);
  // A regular file (also `< file` on stdin) has a size: the display shows percent and ETA.
  const total = st.isFile() ? st.size : undefined;
  const source: Readable = fromStdin ? process.stdin : createReadStream('', { fd, highWaterMark: 256 * 1024 });

  const target = `${cmd.host}:${cmd.port}`;
  const session = await openSession(cmd, 'client', `utpx send ${target} ${cmd.file ?? '-'}`);
  const mode = progressMode(process.stderr, cmd.quiet);
  const socket = connect(cmd.port, cmd.host, socketOptions(cmd, session));
  session.tracer?.watch(socket);
  const progress = new Progress({
    stream: process.stderr,
    mode,
    direction: 'sent',
    ...(total !== undefined ? { total } : {}),
    peer: `to ${target}`,
    // Acked bytes, not written ones: bytesWritten runs a send queue and a window ahead on a slow path.
    sample: () =>
      sample(
        socket,
        socket.writableFinished ? socket.bytesWritten : (socket.connection?.stats().bytesAcked ?? 0),
        true,
      ),
  });
  session.progress = progress;
  session.socket = socket;
  socket.once('connect', () => progress.start());

  source.once('error', (err: Error) => socket.destroy(err));
  source.pipe(socket);
  socket.pipe(process.stdout, { end: false });
  const status = await settled(socket, progress, () =>
    socket.bytesRead > 0 ? `received ${formatBytes(socket.bytesRead)}` : undefined,
  );
  if (!fromStdin) closeQuietly(source);
  return finishSession(session, cmd, status);
}

function closeQuietly(stream: Readable): void {
  if (!stream.destroyed) stream.destroy();
}

// ---------------------------------------------------------------- listen

export async function runListen(cmd: ListenCommand): Promise<number> {
  // Opened synchronously: a bad --output path fails before the port is bound.
  const file = cmd.output === undefined ? undefined : openOutput(cmd.output);
  const out: Writable = file ?? process.stdout;
  const session = await openSession(cmd, 'server', `utpx listen ${cmd.host}:${cmd.port}`);
  session.output = file;
  const mode = progressMode(process.stderr, cmd.quiet);
  const server = createServer(socketOptions(cmd, session));
  const bound = await listen(server, cmd.port, cmd.host);
  if (bound !== undefined) {
    process.stderr.write(`${describeError(bound, `${cmd.host}:${cmd.port}`)}\n`);
    closeSession(session);
    return 1;
  }
  const a = server.address();
  if (session.tracer) session.tracer.title = `utpx listen ${a.address}:${a.port}`;
  if (!cmd.quiet) note(`utpx: listening on ${a.address}:${a.port}`);

  let status = 0;
  for await (const socket of server) {
    // Without --keep-open, later SYNs are refused (RST), as nc refuses a second client.
    if (!cmd.keepOpen) server.close();
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    if (mode === 'live') note(`utpx: connection from ${peer}`);
    session.tracer?.watch(socket);
    const progress = new Progress({
      stream: process.stderr,
      mode,
      direction: 'received',
      peer: `from ${peer}`,
      sample: () => sample(socket, socket.bytesRead, false),
    });
    session.progress = progress;
    session.socket = socket;
    progress.start();
    // One stdin cannot feed several connections: with --keep-open it is not read.
    const stdin = cmd.keepOpen ? undefined : process.stdin;
    socket.pipe(out, { end: false });
    stdin?.pipe(socket);
    socket.once('end', () => {
      // The peer has ended: end our side too (nc exits on the network's EOF).
      stdin?.unpipe(socket);
      socket.end();
    });
    const s = await settled(socket, progress, () =>
      socket.bytesWritten > 0 ? `sent ${formatBytes(socket.bytesWritten)}` : undefined,
    );
    if (s !== 0) status = s;
    if (!cmd.keepOpen) break;
  }
  stdinDone();
  if (file !== undefined) {
    session.output = undefined;
    await endOutput(file);
  }
  return finishSession(session, cmd, status);
}

function stdinDone(): void {
  // A terminal or pipe on stdin would keep the process alive after the connection.
  process.stdin.pause();
}

function openOutput(path: string): WriteStream {
  const fd = openSync(path, 'w');
  try {
    return createWriteStream('', { fd });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

function endOutput(out: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    out.once('error', reject);
    out.end(() => resolve());
  });
}

/** undefined once listening, or the bind error. */
function listen(server: Server, port: number, host: string): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const onError = (err: Error): void => resolve(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(undefined);
    });
  });
}
