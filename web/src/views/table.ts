/**
 * The counters panel: a table of named values per column (A, B, A→B, …), in sections. Rebuilt
 * only when a value changed, so it costs nothing while paused.
 */
export interface CounterSection {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly [name: string, ...values: string[]])[];
}

export class CountersView {
  private last = '';

  constructor(private readonly container: HTMLElement) {}

  render(sections: readonly CounterSection[]): void {
    const key = JSON.stringify(sections);
    if (key === this.last) return;
    this.last = key;
    const frag = document.createDocumentFragment();
    for (const s of sections) {
      const table = document.createElement('table');
      const head = table.createTHead().insertRow();
      const th = document.createElement('th');
      th.textContent = s.title;
      th.className = 'section';
      head.append(th);
      for (const c of s.columns) {
        const h = document.createElement('th');
        h.textContent = c;
        head.append(h);
      }
      const body = table.createTBody();
      for (const [name, ...values] of s.rows) {
        const tr = body.insertRow();
        tr.insertCell().textContent = name;
        for (const v of values) {
          const td = tr.insertCell();
          td.textContent = v;
          td.className = 'num';
        }
        tr.dataset.counter = name;
      }
      frag.append(table);
    }
    this.container.replaceChildren(frag);
  }
}
