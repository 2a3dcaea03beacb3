import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';

/** Everything the stream delivers until 'end'. */
export function collect(s: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

/** Resolves on 'close' (at once for a stream already closed). */
export function closed(s: Duplex | EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    if ('closed' in s && s.closed === true) resolve();
    else s.once('close', () => resolve());
  });
}
