/**
 * The event log: the latest notable events (state changes, drops, resends, SYN/FIN/RESET, the
 * first SACK of a loss episode) up to the time the views show, newest last, in words.
 */
import type { Note, TraceModel } from '../model.js';

const SHOWN = 14;

export class LogView {
  private lastKey = '';

  constructor(private readonly list: HTMLElement) {}

  render(model: TraceModel, upTo: number): void {
    const notes = model.notes;
    // Notes are in time order: find the last one at or before `upTo`.
    let end = notes.length;
    while (end > 0 && (notes[end - 1] as Note).time > upTo) end--;
    const shown = notes.slice(Math.max(0, end - SHOWN), end);
    const key = `${end}|${shown.length}|${model.sides.length}`;
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.list.replaceChildren(
      ...shown.map((n) => {
        const li = document.createElement('li');
        li.className = `note-${n.kind}`;
        const t = document.createElement('span');
        t.className = 'time';
        t.textContent = `${(n.time / 1000).toFixed(1)} ms`;
        const who = document.createElement('b');
        const side = model.sides[n.side];
        who.textContent = side === undefined ? 'peer' : model.label(side);
        li.append(t, who, document.createTextNode(` ${n.text}`));
        return li;
      }),
    );
  }
}
