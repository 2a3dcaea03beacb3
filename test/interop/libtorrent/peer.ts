/**
 * Runs test/interop/libtorrent/peer.py (a libtorrent-rasterbar session on 127.0.0.1, uTP only) as a
 * child process and talks to it in JSON lines. See peer.py for the events and commands.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * Debian's python3-libtorrent installs for the system interpreter, not for a pyenv or venv one.
 * UTPX_LT_PYTHON names another interpreter that can `import libtorrent`.
 */
export const PYTHON = process.env.UTPX_LT_PYTHON ?? '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./peer.py', import.meta.url));

/** Why libtorrent cannot be used here, or null when `import libtorrent` works. */
export function libtorrentMissing(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import libtorrent; print(libtorrent.__version__)'], { encoding: 'utf8' });
  if (r.status === 0) return null;
  return (r.error?.message ?? r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`) || 'unknown error';
}

export type Counters = Record<string, number>;

export interface PeerEvent {
  event: string;
  [field: string]: unknown;
}

export interface StartOptions {
  torrentFile: string;
  savePath: string;
  connectionsLimit?: number;
  /**
   * Transmissions of one packet before libtorrent gives the connection up (utp_num_resends, default
   * 3; utp_fin_resends, default 2, is set one lower).
   */
  utpResends?: number;
  /** Every libtorrent alert to this process's stderr (diagnosis; also UTPX_LT_ALERTS=1). */
  logAlerts?: boolean;
}

interface Waiter {
  match: (e: PeerEvent) => boolean;
  resolve: (e: PeerEvent) => void;
  reject: (err: Error) => void;
}

const running = new Set<LibtorrentPeer>();
// Belt and braces: a worker that dies without afterAll still takes its libtorrent children along
// (they also exit when their stdin closes).
process.once('exit', () => {
  for (const p of running) p.kill();
});

export class LibtorrentPeer {
  readonly events: PeerEvent[] = [];
  port = 0;
  infoHash = '';
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiters = new Set<Waiter>();
  private stderr = '';
  private exited: Error | null = null;

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.child = child;
    running.add(this);
    createInterface({ input: child.stdout }).on('line', (line) => {
      let e: PeerEvent;
      try {
        e = JSON.parse(line) as PeerEvent;
      } catch {
        this.stderr += `(stdout) ${line}\n`;
        return;
      }
      this.events.push(e);
      for (const w of [...this.waiters]) {
        if (w.match(e)) {
          this.waiters.delete(w);
          w.resolve(e);
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (process.env.UTPX_LT_ALERTS === '1') process.stderr.write(d);
      // Only the tail matters for a failure message.
      this.stderr = (this.stderr + d).slice(-4000);
    });
    child.once('exit', (code, signal) => {
      running.delete(this);
      this.exited = new Error(`libtorrent peer exited (code ${code}, signal ${signal}); stderr:\n${this.stderr}`);
      for (const w of this.waiters) w.reject(this.exited);
      this.waiters.clear();
    });
  }

  /** Starts a session with one torrent; resolves once it listens and the torrent is ready (a seed has checked its data). */
  static async start(opts: StartOptions): Promise<LibtorrentPeer> {
    const args = [SCRIPT, '--torrent', opts.torrentFile, '--save-path', opts.savePath];
    if (opts.connectionsLimit !== undefined) args.push('--connections-limit', String(opts.connectionsLimit));
    if (opts.utpResends !== undefined) args.push('--utp-resends', String(opts.utpResends));
    if (opts.logAlerts || process.env.UTPX_LT_ALERTS === '1') args.push('--log-alerts');
    const peer = new LibtorrentPeer(spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
    const listening = await peer.waitFor((e) => e.event === 'listening');
    peer.port = listening.port as number;
    const ready = await peer.waitFor((e) => e.event === 'ready');
    peer.infoHash = ready.info_hash as string;
    return peer;
  }

  /** The first event (already seen or still to come) that matches. Rejects if the process exits first. */
  waitFor(match: (e: PeerEvent) => boolean, from = 0): Promise<PeerEvent> {
    const seen = this.events.slice(from).find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.exited !== null) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => this.waiters.add({ match, resolve, reject }));
  }

  /** libtorrent connects to a utpx port on 127.0.0.1. */
  connect(port: number): void {
    this.send(`connect ${port}`);
  }

  /** The session counters now. */
  async counters(): Promise<Counters> {
    const from = this.events.length;
    this.send('stats');
    const e = await this.waitFor((x) => x.event === 'stats', from);
    return e.counters as Counters;
  }

  /** Asks the session to print its final counters and exit; resolves with the counters. */
  async quit(): Promise<Counters> {
    if (this.exited !== null) throw this.exited;
    const from = this.events.length;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send('quit');
    const e = await this.waitFor((x) => x.event === 'stats', from);
    await done;
    return e.counters as Counters;
  }

  /** Ends the process now (afterAll, or a test that failed halfway). */
  kill(): void {
    if (this.exited === null && this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  /** Peer errors and disconnects libtorrent reported, for failure messages. */
  peerEvents(): PeerEvent[] {
    return this.events.filter((e) => e.event === 'peer' || e.event === 'error' || e.event === 'hash_failed');
  }

  private send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }
}
