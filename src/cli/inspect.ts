/**
 * `--inspect`: the connections' lifecycle actors in the Stately inspector. The browser inspector
 * needs a window, so a CLI uses the package's Node pair: a local page (`@statelyai/inspect/server`,
 * which embeds the Stately inspector UI and relays events over a WebSocket) and a WebSocket
 * inspector that sends this process's actor events to it. @statelyai/inspect is an optional
 * dependency, loaded only here.
 */
import { createServer } from 'node:net';
import type { InspectObserver } from '../machines/connection.js';

export interface Inspector {
  inspect: InspectObserver;
  url: string;
  stop(): void;
}

export class InspectorError extends Error {
  readonly code: string;
  /** What failed, for the error line: the inspector's port rather than the uTP one. */
  readonly subject: string | undefined;
  constructor(code: string, message: string, subject?: string) {
    super(message);
    this.code = code;
    this.subject = subject;
  }
}

export async function startInspector(port: number): Promise<Inspector> {
  let client: typeof import('@statelyai/inspect');
  let server: typeof import('@statelyai/inspect/server');
  try {
    client = await import('@statelyai/inspect');
    server = await import('@statelyai/inspect/server');
  } catch {
    throw new InspectorError(
      'ERR_MODULE_NOT_FOUND',
      '--inspect needs the optional dependency @statelyai/inspect; npm install @statelyai/inspect',
    );
  }
  // The inspector page's HTTP server has no error handler: a taken port would crash the process.
  await portFree(port);
  const bridge = server.createInspectorServer({ port, autoOpen: false });
  const inspector = client.createWebSocketInspector({ url: `ws://localhost:${port}` });
  return {
    inspect: inspector.inspect,
    url: `http://localhost:${port}`,
    stop() {
      inspector.stop();
      bridge.stop();
    },
  };
}

function portFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(new InspectorError(err.code ?? 'EADDRINUSE', err.message, `--inspect-port ${port}`)),
    );
    probe.listen(port, () => probe.close(() => resolve()));
  });
}
