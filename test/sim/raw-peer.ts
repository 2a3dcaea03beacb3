/**
 * A hand-driven uTP peer on the simulated network: it sends exactly the packets a test writes and
 * records every packet it receives, so a test can put a utpx endpoint in front of a peer that
 * misbehaves in one precise way (a stale FIN, an ack far behind, a forged RST, a window ignored).
 */
import type { SimNetwork, SimSocket } from '../../src/sim/network.js';
import { decode, encode, type Packet, type PacketInit } from '../../src/wire/codec.js';
import { ST_DATA, ST_STATE, ST_SYN } from '../../src/wire/constants.js';
import { seqAdd } from '../../src/wire/seq.js';

export class RawPeer {
  readonly socket: SimSocket;
  readonly received: Packet[] = [];
  /** The id this peer sends with (the utpx side receives on it) and the one it receives on. */
  sendId = 0;
  recvId = 0;
  /** Next seq_nr this peer sends, and the last one it has seen from utpx (what it acks). */
  seq = 0;
  ack = 0;

  constructor(
    private readonly net: SimNetwork,
    address: string,
    port: number,
    private readonly to: { address: string; port: number },
  ) {
    this.socket = net.bind(address, port);
    this.socket.onMessage((buf) => {
      const r = decode(buf);
      if (r.ok) this.received.push(r.packet);
    });
  }

  /** Sends a packet; unset fields get this peer's current ids, seq and ack. */
  send(p: Partial<PacketInit> & { type: PacketInit['type'] }): void {
    const bytes = encode({
      connectionId: this.sendId,
      seqNr: this.seq,
      ackNr: this.ack,
      windowSize: 1 << 20,
      timestamp: Math.floor(this.net.now()) >>> 0,
      ...p,
    });
    this.socket.send(bytes, 0, bytes.length, this.to.port, this.to.address);
  }

  /**
   * Connects to a utpx acceptor: sends a SYN with `recvId`, waits for the SYN-ACK and acks it, so
   * the acceptor is connected and `ack` is where its stream starts.
   */
  handshake(recvId: number, initialSeq: number): Packet {
    this.recvId = recvId & 0xffff;
    this.sendId = seqAdd(this.recvId, 1);
    this.seq = initialSeq & 0xffff;
    this.send({ type: ST_SYN, connectionId: this.recvId, ackNr: 0 });
    this.seq = seqAdd(this.seq, 1);
    this.net.run({ until: () => this.received.some((p) => p.type === ST_STATE), maxTimeUs: 5_000_000 });
    const synAck = this.received.find((p) => p.type === ST_STATE);
    if (synAck === undefined) throw new Error('no SYN-ACK');
    this.ack = seqAdd(synAck.seqNr, -1);
    this.send({ type: ST_STATE });
    this.run();
    return synAck;
  }

  /** A DATA packet with the next seq_nr. */
  data(payload: Uint8Array, extra: Partial<PacketInit> = {}): number {
    const seq = this.seq;
    this.send({ type: ST_DATA, seqNr: seq, payload, ...extra });
    this.seq = seqAdd(seq, 1);
    return seq;
  }

  run(us = 100_000): void {
    this.net.run({ maxTimeUs: us });
  }
}
