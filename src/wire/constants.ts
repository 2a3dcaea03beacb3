/** Packet types (BEP 29 "type" nibble). */
export const ST_DATA = 0;
export const ST_FIN = 1;
export const ST_STATE = 2;
export const ST_RESET = 3;
export const ST_SYN = 4;

export type PacketType = 0 | 1 | 2 | 3 | 4;

export const PACKET_TYPE_NAMES: readonly string[] = ['ST_DATA', 'ST_FIN', 'ST_STATE', 'ST_RESET', 'ST_SYN'];

/** The only protocol version (BEP 29). */
export const UTP_VERSION = 1;

/** Fixed header length in bytes (BEP 29). */
export const HEADER_SIZE = 20;

/** Extension type numbers (BEP 29; 2 was libutp's "extension bits", never used by peers). */
export const EXT_NONE = 0;
export const EXT_SACK = 1;

/** Bytes an extension adds before its data: next-extension type and length. */
export const EXT_HEADER_SIZE = 2;
