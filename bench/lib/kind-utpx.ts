import type { Duplex } from 'node:stream';
import { connect, createServer } from '../../src/io/index.js';
import type { ConnectionConfig } from '../../src/machines/connection.js';
import { type StreamKind, UDP_BUFFER_BYTES } from './kinds.js';

/** Protocol settings to try from the environment, e.g. UTPX_BENCH='{"recvWindowBytes":4194304}'. */
const connection = JSON.parse(process.env.UTPX_BENCH ?? '{}') as ConnectionConfig;

/** utpx over 127.0.0.1 with 4 MiB UDP buffers, like the utp-native kind. */
export const utpx: StreamKind = {
  async listen(onStream) {
    const server = createServer(
      { recvBufferSize: UDP_BUFFER_BYTES, sendBufferSize: UDP_BUFFER_BYTES, connection },
      (s) => onStream(s as Duplex),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address();
    return { port, close: () => server.close() };
  },
  async connect(port) {
    const s = connect(port, '127.0.0.1', {
      recvBufferSize: UDP_BUFFER_BYTES,
      sendBufferSize: UDP_BUFFER_BYTES,
      connection,
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.once('connect', () => resolve());
    });
    return s as Duplex;
  },
};
