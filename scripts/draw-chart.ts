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
import { chartOutline, type StateOutline } from '../src/machines/outline.js';
import { CodeLinkError, codeLink } from './docs/code-links.js';

const sid = (path: string): string => path.replace(/\./g, '_') || 'root';

export function drawChart(): string {
  const lines: string[] = ['stateDiagram-v2'];
  const walk = (node: StateOutline, indent: string) => {
    for (const child of node.children) {
      if (child.children.length > 0) {
        lines.push(`${indent}state ${sid(child.path)} {`);
        if (child.kind === 'parallel') {
          child.children.forEach((k, j) => {
            if (j > 0) lines.push(`${indent}  --`);
            lines.push(`${indent}  state ${sid(k.path)} {`);
            walk(k, `${indent}    `);
            lines.push(`${indent}  }`);
          });
        } else {
          walk(child, `${indent}  `);
        }
        lines.push(`${indent}}`);
      }
      if (child.kind === 'final') lines.push(`${indent}${sid(child.path)} --> [*]`);
      if (child.entry.length) lines.push(`${indent}${sid(child.path)} : entry / ${child.entry.join(', ')}`);
    }
    if (node.initial !== undefined)
      lines.push(`${indent}[*] --> ${sid(node.path ? `${node.path}.${node.initial}` : node.initial)}`);
    for (const child of node.children) {
      for (const t of child.transitions) {
        let text = t.on;
        if (t.guard) text += ` [${t.guard}]`;
        if (t.actions.length) text += ` / ${t.actions.join(', ')}`;
        // A targetless transition (actions only) is drawn as a self-loop.
        const targets = t.targets.length > 0 ? t.targets : [child.path];
        for (const target of targets) lines.push(`${indent}${sid(child.path)} --> ${sid(target)} : ${text}`);
      }
    }
  };
  walk(chartOutline(), '  ');
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
\`EOF_DELIVERED\`, \`FIN_ACKED\`, \`RESET_RECEIVED\`, \`RTO_FIRED\`, \`PEER_IDLE\`. Events from the application: \`CONNECT\`, \`SYN\`
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
