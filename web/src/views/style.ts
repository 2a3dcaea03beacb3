/** Colours shared by the views, so a DATA packet is the same blue in the ladder, the plots and the legend. */
export const TYPE_COLOR: Record<string, string> = {
  SYN: '#7c3aed',
  STATE: '#94a3b8',
  DATA: '#2563eb',
  FIN: '#059669',
  RESET: '#dc2626',
};
export const RETRANSMIT = '#ea580c';
export const LOST = '#dc2626';
export const SACK = '#0d9488';
export const ACK = '#16a34a';
export const TARGET = '#b91c1c';
/** Per side (A, B) in the plots. */
export const SIDE_COLOR = ['#2563eb', '#9333ea'] as const;
export const SIDE_LIGHT = ['#93c5fd', '#d8b4fe'] as const;

/** The part of the trace time axis the views show right now. */
export interface Viewport {
  /** Trace time reached, µs. */
  readonly now: number;
  /** Right end of the time plots' x axis, µs (they start at 0). */
  readonly xMax: number;
  /** The ladder's window, µs; the time plots shade it. */
  readonly ladderFrom: number;
  readonly ladderTo: number;
  readonly done: boolean;
}

/** The margins every time plot uses, so their x axes line up under each other and under the ladder. */
export const TIME_MARGIN = { left: 64, right: 16, top: 8, bottom: 34 } as const;
