/** Packet types (BEP 29 "type" nibble). */
export const ST_DATA = 0;
export const ST_FIN = 1;
export const ST_STATE = 2;
export const ST_RESET = 3;
export const ST_SYN = 4;

export type PacketType = 0 | 1 | 2 | 3 | 4;

/** The packet types by number, as traces name them. */
export const TYPE_NAMES = ['DATA', 'FIN', 'STATE', 'RESET', 'SYN'] as const;
export type PacketTypeName = (typeof TYPE_NAMES)[number];
/** The packet types by number, as BEP 29 names them. */
export const PACKET_TYPE_NAMES: readonly string[] = TYPE_NAMES.map((t) => `ST_${t}`);

/** The only protocol version (BEP 29). */
export const UTP_VERSION = 1;

/** Fixed header length in bytes (BEP 29). */
export const HEADER_SIZE = 20;

/** Extension type numbers (BEP 29; 2 is libutp's "extension bits", which it stores and never reads). */
export const EXT_NONE = 0;
export const EXT_SACK = 1;
export const EXT_BITS = 2;
/** libutp drops an extension-bits extension of any other length. */
export const EXT_BITS_LENGTH = 8;
/** An extension type no peer gives meaning to; receivers skip it. utpx pads MTU probes with it. */
export const EXT_PADDING = 0x7f;
/**
 * utpx's one extension bit, sent in the SYN and the SYN-ACK: "I read whole datagrams up to 64 KiB".
 * libtorrent reads into a 1,500-byte buffer and silently truncates anything larger, so datagrams
 * above an Ethernet MTU go only to a peer that set this bit (byte 7, lowest bit; BEP 29 assigns no bits).
 */
export const EXT_BITS_LARGE_DATAGRAMS_BYTE = 7;
export const EXT_BITS_LARGE_DATAGRAMS_MASK = 0x01;
/** The largest datagram sent to a peer that has not said it takes more: an Ethernet path's UDP payload (1500 − 20 − 8). */
export const PLAIN_DATAGRAM_MAX = 1472;

/** Bytes an extension adds before its data: next-extension type and length. */
export const EXT_HEADER_SIZE = 2;
