/**
 * One endpoint's lifecycle chart, drawn from the machine definition (chart-outline.ts) as nested
 * boxes: compound states stack their children, parallel regions stand side by side, final states
 * have a double border. Active states are lit from a state string — the actor's snapshot in a live
 * run, `state_updated` in a replay — and the transitions out of them are listed under the chart:
 * the events that can happen next. Every box also carries its transitions as a tooltip, and the
 * "all transitions" box shows them in place.
 */
import { activePaths, type StateOutline, type TransitionOutline } from '../chart-outline.js';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function transitionText(t: TransitionOutline): string {
  const target = t.targets.length === 0 ? '(stays)' : t.targets.map((p) => p.split('.').pop()).join(', ');
  const guard = t.guard ? ` [${t.guard}]` : '';
  const acts = t.actions.length ? ` / ${t.actions.join(', ')}` : '';
  return `${t.on}${guard} → ${target}${acts}`;
}

export class ChartView {
  readonly root: HTMLElement;
  private readonly boxes = new Map<string, HTMLElement>();
  private readonly nodes = new Map<string, StateOutline>();
  private readonly stateLine: HTMLElement;
  private readonly exits: HTMLElement;
  private current = '\u0000';

  constructor(
    container: HTMLElement,
    outline: StateOutline,
    readonly sideLabel: string,
  ) {
    this.root = el('section', 'chart');
    this.root.dataset.side = sideLabel;
    const head = el('header');
    head.append(el('h3', undefined, `Endpoint ${sideLabel}`));
    this.stateLine = el('div', 'state-line', 'no connection yet');
    head.append(this.stateLine);
    const toggle = el('label', 'toggle');
    const box = el('input');
    box.type = 'checkbox';
    box.addEventListener('change', () => this.root.classList.toggle('show-all', box.checked));
    toggle.append(box, ' all transitions');
    head.append(toggle);
    this.root.append(head);
    const body = el('div', 'chart-body');
    // Top level: the states before, during and after a connection, then the final outcomes in a row.
    const finals = el('div', 'finals');
    for (const child of outline.children) {
      if (child.kind === 'final') finals.append(this.box(child));
      else body.append(this.box(child));
    }
    body.append(finals);
    this.root.append(body);
    this.exits = el('ul', 'exits');
    this.root.append(this.exits);
    container.append(this.root);
  }

  /** Lights the active states; `state` is a trace state string ("" = no connection). */
  set(state: string, trigger: string | undefined, timeUs: number | undefined): void {
    const key = `${state}|${trigger}`;
    if (key === this.current) return;
    this.current = key;
    const active = activePaths(state);
    for (const [path, box] of this.boxes) box.classList.toggle('active', active.has(path));
    this.root.dataset.state = state;
    // What can happen next: the transitions out of every active state, innermost first.
    const items: HTMLElement[] = [];
    for (const path of [...active].sort((a, b) => b.split('.').length - a.split('.').length)) {
      for (const t of this.nodes.get(path)?.transitions ?? []) {
        const li = el('li');
        li.append(el('b', undefined, path.split('.').pop()), ` ${transitionText(t)}`);
        items.push(li);
      }
    }
    if (items.length > 0) items.unshift(el('li', 'exits-title', 'next, from the lit states:'));
    else if (state !== '') items.push(el('li', 'exits-title', 'a final state: this connection is over.'));
    this.exits.replaceChildren(...items);
    if (state === '') this.stateLine.textContent = 'no connection yet';
    else {
      const when = timeUs === undefined ? '' : ` at ${(timeUs / 1000).toFixed(1)} ms`;
      this.stateLine.textContent = `${state.split(',').join(' · ')}${trigger ? `  ← ${trigger}${when}` : ''}`;
    }
  }

  private box(node: StateOutline): HTMLElement {
    const b = el('div', `state kind-${node.kind}`);
    b.dataset.path = node.path;
    const title = el('div', 'state-name', node.key);
    if (node.entry.length) title.append(el('span', 'entry', ` entry / ${node.entry.join(', ')}`));
    b.append(title);
    if (node.transitions.length) {
      const ul = el('ul', 'transitions');
      for (const t of node.transitions) ul.append(el('li', undefined, transitionText(t)));
      b.append(ul);
    }
    const entry = node.entry.length ? [`entry / ${node.entry.join(', ')}`] : [];
    b.title = [node.path, ...entry, ...node.transitions.map(transitionText)].join('\n');
    if (node.children.length) {
      const kids = el('div', node.kind === 'parallel' ? 'regions' : 'children');
      for (const c of node.children) kids.append(this.box(c));
      b.append(kids);
    }
    this.boxes.set(node.path, b);
    this.nodes.set(node.path, node);
    return b;
  }
}
