import { createRequire } from 'node:module';
import net from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * A stream transport the benchmark can drive: one listener and one connection on 127.0.0.1.
 * To benchmark another transport, add an entry to `kinds` below that returns one of these.
 */
export interface StreamKind {
  /** Start listening on 127.0.0.1 (any port); every accepted connection is handed to `onStream`. */
  listen(onStream: (s: Duplex) => void): Promise<{ port: number; close(): void }>;
  /** Open a connection to 127.0.0.1:port; the returned stream may buffer writes until connected. */
  connect(port: number): Promise<Duplex>;
}

/** 4 MiB: what net.core.rmem_max/wmem_max allow here; Node's ~208 KiB default drops at speed. */
export const UDP_BUFFER_BYTES = 4 * 1024 * 1024;

export const kinds: Record<string, () => Promise<StreamKind>> = {
  tcp: async () => tcp,
  'utp-native': async () => utpNative(UDP_BUFFER_BYTES),
  /** utp-native with the kernel's default UDP buffers, to show what the buffer size alone is worth. */
  'utp-native-defbuf': async () => utpNative(0),
  utpx: async () => (await import('./kind-utpx.js')).utpx,
};

const tcp: StreamKind = {
  async listen(onStream) {
    const server = net.createServer((s) => onStream(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as net.AddressInfo;
    return { port, close: () => server.close() };
  },
  async connect(port) {
    const s = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.once('connect', () => resolve());
    });
    return s;
  },
};

/** The slice of utp-native's (untyped, CommonJS) API the benchmark uses; see its README. */
interface UtpSocket {
  on(event: 'connection', fn: (c: Duplex) => void): this;
  listen(port: number, host: string, onListening: () => void): void;
  bind(port: number, host: string): void;
  connect(port: number, host: string): Duplex;
  address(): { port: number; address: string };
  setRecvBufferSize(n: number): number;
  setSendBufferSize(n: number): number;
  getRecvBufferSize(): number;
  close(): void;
}
type UtpFactory = (opts?: { allowHalfOpen?: boolean }) => UtpSocket;

function utpNative(bufferBytes: number): StreamKind {
  const utp = createRequire(import.meta.url)('utp-native') as UtpFactory;
  // The buffer setters only work once the native handle exists, i.e. after bind/listen.
  const raise = (s: UtpSocket): void => {
    if (bufferBytes <= 0) return;
    s.setRecvBufferSize(bufferBytes);
    s.setSendBufferSize(bufferBytes);
  };
  return {
    async listen(onStream) {
      const server = utp();
      server.on('connection', onStream);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      raise(server);
      return { port: server.address().port, close: () => server.close() };
    },
    async connect(port) {
      const sock = utp();
      sock.bind(0, '127.0.0.1');
      raise(sock);
      const conn = sock.connect(port, '127.0.0.1');
      conn.once('close', () => sock.close());
      return conn;
    },
  };
}
