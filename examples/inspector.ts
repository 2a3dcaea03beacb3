/**
 * A connection's lifecycle statechart, live in the Stately inspector.
 *
 *   npx tsx examples/inspector.ts          # then open http://localhost:8080 and watch
 *
 * `@statelyai/inspect` (an optional dependency of utpx) serves the inspector page and relays
 * inspection events over a WebSocket; `createWebSocketInspector` sends this process's actor events
 * to it. Every socket, server and `utp()` takes the `inspect` option and gives it to each
 * connection's lifecycle actor. This example opens a connection every two seconds, so there is
 * always something to watch; Ctrl-C stops it. `INSPECT_PORT` picks another port, and
 * `EXAMPLE_CONNECTIONS=n` stops after n connections (the examples' test uses it).
 */
import { createWebSocketInspector } from '@statelyai/inspect';
import { createInspectorServer } from '@statelyai/inspect/server';
import { connect, createServer } from 'utpx';

const port = Number(process.env.INSPECT_PORT ?? 8080);
const connections = Number(process.env.EXAMPLE_CONNECTIONS ?? Number.POSITIVE_INFINITY);

// The page at http://localhost:<port>, and the bridge its WebSocket talks to.
const bridge = createInspectorServer({ port, autoOpen: false });
const inspector = createWebSocketInspector({ url: `ws://localhost:${port}` });
console.log(`Stately inspector at http://localhost:${port}`);

const server = createServer({ inspect: inspector.inspect }, (socket) => socket.pipe(socket));
server.listen(0, '127.0.0.1', () => {
  const { port: utpPort } = server.address();
  let n = 0;
  const once = () => {
    n++;
    // The client's actor is inspected too: both sides of each connection appear in the inspector.
    const socket = connect({ port: utpPort, host: '127.0.0.1', inspect: inspector.inspect });
    socket.end(`connection ${n}`);
    socket.on('data', (d: Buffer) => console.log(`echoed: ${d}`));
    socket.on('close', () => {
      if (n < connections) setTimeout(once, 2000);
      else {
        server.close();
        // Give the last inspection events time to reach the bridge, then stop.
        setTimeout(() => {
          inspector.stop();
          bridge.stop();
        }, 500);
      }
    });
  };
  once();
});
