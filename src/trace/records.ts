/**
 * Connection trace records → trace-file events, one `conn` key per connection from its first
 * record on. Shared by the CLI's trace writer and anything else that records live connections.
 *
 * Why this is more than `recordToEvent`: a connection's lifecycle actor starts (and reports its
 * initial `idle` state) before the connection has chosen its receive id, so that first record
 * carries localId 0 and would key a connection of its own ("host:port/0"). Such a record is held
 * back and re-keyed to the id of the next record from the same peer. Nothing here touches Node.
 */
import type { ConnectionTraceRecord } from '../machines/connection.js';
import { connKey, recordToEvent, type TraceEvent } from './format.js';

export class TraceEventStream {
  private readonly referenceTimeUs: number;
  private readonly emit: (event: TraceEvent) => void;
  /** Initial-state events waiting for their connection's id, by "address:port". */
  private readonly held = new Map<string, TraceEvent[]>();

  constructor(referenceTimeUs: number, emit: (event: TraceEvent) => void) {
    this.referenceTimeUs = referenceTimeUs;
    this.emit = emit;
  }

  push(record: ConnectionTraceRecord): void {
    const event = recordToEvent(record, this.referenceTimeUs);
    const peer = `${record.remoteAddress}:${record.remotePort}`;
    // Only the actor's start comes before the id; a connection whose id really is 0 holds nothing else.
    if (record.kind === 'state' && record.localId === 0 && record.event === 'xstate.init') {
      const list = this.held.get(peer);
      if (list) list.push(event);
      else this.held.set(peer, [event]);
      return;
    }
    const list = this.held.get(peer);
    if (list !== undefined && record.localId !== 0) {
      this.held.delete(peer);
      const conn = connKey(record.remoteAddress, record.remotePort, record.localId);
      for (const e of list) this.emit({ ...e, conn });
    }
    this.emit(event);
  }

  /** Emit whatever is still held, keyed as it came (a connection that never got an id). */
  flush(): void {
    for (const list of this.held.values()) for (const e of list) this.emit(e);
    this.held.clear();
  }
}
