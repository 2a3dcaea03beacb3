/**
 * Draws the connection statechart as a Mermaid state diagram (docs/statecharts/connection.mmd and
 * the Markdown page around it), straight from the machine definition, so the drawing can never
 * drift from the code: test/unit/machines/chart-drawing.test.ts fails when it is stale.
 *
 *   npm run docs          # rewrites these files with everything else generated (scripts/docs.ts)
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connectionMachine } from '../src/machines/connection.machine.js';
import { CodeLinkError, codeLink } from './docs/code-links.js';

type AnyNode = {
  key: string;
  id: string;
  type: string;
  states: Record<string, AnyNode>;
  initial?: { target: readonly AnyNode[] } | undefined;
  transitions: Map<string, readonly AnyTransition[]>;
  always?: readonly AnyTransition[] | undefined;
  after: readonly (AnyTransition & { delay: unknown })[];
  entry: readonly unknown[];
};
type AnyTransition = {
  eventType: string;
  target?: readonly AnyNode[] | undefined;
  guard?: unknown;
  actions: readonly unknown[];
  reenter?: boolean;
};

function name(a: unknown): string {
  if (typeof a === 'string') return a;
  if (a && typeof a === 'object' && 'type' in a) {
    const t = (a as { type: unknown; params?: unknown }).type;
    const p = (a as { params?: Record<string, unknown> }).params;
    const tn = typeof t === 'string' ? t : 'fn';
    return p ? `${tn}(${Object.values(p).join(',')})` : tn;
  }
  return 'fn';
}

function guardName(g: unknown): string {
  if (g === undefined) return '';
  if (typeof g === 'string') return g;
  if (typeof g === 'function') {
    // XState's combinators: and([...]) / or([...]) / not(g) carry their operands, stateIn its state.
    const f = g as { name?: string; guards?: unknown[]; stateValue?: unknown };
    if (f.guards !== undefined) {
      const op = f.name === 'or' ? ' or ' : ' and ';
      const parts = f.guards.map(guardName);
      return f.name === 'not' ? `not ${parts[0]}` : parts.join(op);
    }
    if (f.stateValue !== undefined) {
      return `in ${typeof f.stateValue === 'string' ? f.stateValue.replace(/^#utp\./, '') : JSON.stringify(f.stateValue)}`;
    }
    return f.name || 'guard';
  }
  if (g && typeof g === 'object' && 'type' in g) return String((g as { type: unknown }).type);
  return 'guard';
}

function sid(n: AnyNode): string {
  return n.id.replace(/^utp\.?/, '').replace(/\./g, '_') || 'root';
}

export function drawChart(): string {
  const lines: string[] = ['stateDiagram-v2'];
  const root = connectionMachine.root as unknown as AnyNode;
  const edge = (from: AnyNode, t: AnyTransition, label: string, indent: string) => {
    const guard = guardName(t.guard);
    const acts = t.actions.map(name).filter((a) => a !== 'fn');
    let text = label;
    if (guard) text += ` [${guard}]`;
    if (acts.length) text += ` / ${acts.join(', ')}`;
    for (const target of t.target ?? [from]) lines.push(`${indent}${sid(from)} --> ${sid(target)} : ${text}`);
  };
  const walk = (node: AnyNode, indent: string) => {
    const children = Object.values(node.states);
    children.forEach((child, i) => {
      const kids = Object.values(child.states);
      if (kids.length > 0) {
        lines.push(`${indent}state ${sid(child)} {`);
        if (child.type === 'parallel') {
          kids.forEach((k, j) => {
            if (j > 0) lines.push(`${indent}  --`);
            lines.push(`${indent}  state ${sid(k)} {`);
            walk(k, `${indent}    `);
            lines.push(`${indent}  }`);
          });
        } else {
          walk(child, `${indent}  `);
        }
        lines.push(`${indent}}`);
      }
      if (child.type === 'final') lines.push(`${indent}${sid(child)} --> [*]`);
      const entry = child.entry.map(name).filter((a) => a !== 'fn');
      if (entry.length) lines.push(`${indent}${sid(child)} : entry / ${entry.join(', ')}`);
      void i;
    });
    const initial = node.initial?.target[0];
    if (initial && node.type !== 'parallel') lines.push(`${indent}[*] --> ${sid(initial)}`);
    for (const child of children) {
      for (const [event, ts] of child.transitions) {
        if (event.startsWith('xstate.after')) continue;
        for (const t of ts) edge(child, t, event, indent);
      }
      for (const t of child.after) {
        const delay = typeof t.delay === 'string' ? t.delay : String(t.delay);
        edge(child, t, `after ${delay}`, indent);
      }
      for (const t of child.always ?? []) edge(child, t, 'always', indent);
    }
  };
  walk(root, '  ');
  return `${lines.join('\n')}\n`;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MACHINE_FILE = 'src/machines/connection.machine.ts';

/**
 * Every action, guard and delay the chart names, each linked to its implementation (line ranges
 * computed from the source, see scripts/docs/code-links.ts).
 */
export function chartReference(): string {
  const impl = connectionMachine.implementations as unknown as Record<'actions' | 'guards' | 'delays', object>;
  const lines: string[] = [];
  const kinds = [
    ['actions', 'Actions', 'what a transition or an entry does; most call one command of the protocol core'],
    ['guards', 'Guards', 'conditions that choose between transitions'],
    ['delays', 'Delays', "named timers (ms), read from the connection's configuration"],
  ] as const;
  for (const [kind, title, what] of kinds) {
    const names = Object.keys(impl[kind]);
    const link = (n: string) => {
      try {
        return codeLink(
          ROOT,
          'docs/statecharts/connection.md',
          MACHINE_FILE,
          `connectionMachine.${kind}.${n}`,
          `\`${n}\``,
        );
      } catch (e) {
        // Implemented somewhere other than the object handed to setup(): named, not linked.
        if (e instanceof CodeLinkError) return `\`${n}\``;
        throw e;
      }
    };
    lines.push(`**${title}** (${what}): ${names.map(link).join(', ')}.`);
    lines.push('');
  }
  return lines.join('\n');
}

export function chartPage(mermaid: string, reference = chartReference()): string {
  return `# The uTP connection lifecycle

Generated from \`src/machines/connection.machine.ts\` by \`npm run docs\`; a test fails when this page is
stale. To explore it interactively, paste the machine into the Stately editor or run any example with the
Stately inspector attached (see README, "Auditing the protocol").

Events raised by the protocol core (never one per data packet): \`SYN_ACKED\`, \`PEER_ACKED\`, \`FIN_RECEIVED\`,
\`EOF_DELIVERED\`, \`FIN_ACKED\`, \`RESET_RECEIVED\`, \`RTO_FIRED\`. Events from the application: \`CONNECT\`, \`SYN\`
(an incoming SYN accepted by a listener), \`END\`, \`DESTROY\`. Delays are named and read their values from the
connection's configuration.

\`\`\`mermaid
${mermaid}\`\`\`

${reference}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const m = drawChart();
  writeFileSync(new URL('../docs/statecharts/connection.mmd', import.meta.url), m);
  writeFileSync(new URL('../docs/statecharts/connection.md', import.meta.url), chartPage(m));
  console.log(m);
}
