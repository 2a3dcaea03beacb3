/**
 * The simulator, with a report of every datagram a link drops. SimNetwork only counts its drops, so
 * each socket it hands out is wrapped: a send that moved the link's loss, queue or MTU counter was
 * dropped, and why. No change to src/sim is needed, and the endpoints and the Reno flow see an
 * ordinary SimSocket.
 */
import { SimNetwork, type SimSocket } from './engine.js';

export type DropReason = 'loss' | 'queue' | 'mtu';

export interface LinkDrop {
  readonly from: string;
  readonly fromPort: number;
  readonly to: string;
  readonly toPort: number;
  /** The datagram's bytes (valid only during the callback). */
  readonly datagram: Uint8Array;
  readonly reason: DropReason;
}

export class ObservedNetwork extends SimNetwork {
  onDrop: ((drop: LinkDrop) => void) | undefined;

  override bind(address: string, port: number): SimSocket {
    const inner = super.bind(address, port);
    const net = this;
    return {
      get address() {
        return inner.address;
      },
      get port() {
        return inner.port;
      },
      get closed() {
        return inner.closed;
      },
      send(buf, offset, length, toPort, toAddress) {
        const report = net.onDrop;
        if (report === undefined) return inner.send(buf, offset, length, toPort, toAddress);
        const before = net.linkStats(inner.address, toAddress);
        inner.send(buf, offset, length, toPort, toAddress);
        const after = net.linkStats(inner.address, toAddress);
        const reason: DropReason | undefined =
          after.lost > before.lost
            ? 'loss'
            : after.droppedQueue > before.droppedQueue
              ? 'queue'
              : after.droppedMtu > before.droppedMtu
                ? 'mtu'
                : undefined;
        if (reason === undefined) return;
        const datagram = buf.subarray(offset, offset + length);
        report({ from: inner.address, fromPort: inner.port, to: toAddress, toPort, datagram, reason });
      },
      onMessage: (handler) => inner.onMessage(handler),
      close: () => inner.close(),
    };
  }
}
