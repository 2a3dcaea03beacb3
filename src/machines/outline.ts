/**
 * The lifecycle chart as a plain tree, read from `connectionMachine` at runtime (never a hand-drawn
 * copy): each state node with its kind, entry actions and outgoing transitions, in the order the
 * machine declares them. The Mermaid drawing in docs/statecharts (scripts/draw-chart.ts) and the
 * browser playground's chart view both draw this tree.
 */
import { connectionMachine } from './connection.machine.js';

export interface TransitionOutline {
  /** "SYN_ACKED", "after synRto", "always". */
  readonly on: string;
  /** The guard as text: "canRetrySyn", "in connected.send.finAcked and in connected.receive.ended". */
  readonly guard?: string;
  readonly actions: readonly string[];
  /** Target state paths ("connected", "connecting.synSent"); none for a targetless transition (actions only). */
  readonly targets: readonly string[];
}

export interface StateOutline {
  /** "connected.send.open"; "" for the root. */
  readonly path: string;
  readonly key: string;
  readonly kind: 'atomic' | 'compound' | 'parallel' | 'final';
  readonly initial?: string;
  readonly entry: readonly string[];
  readonly transitions: readonly TransitionOutline[];
  readonly children: readonly StateOutline[];
}

// XState's StateNode, reduced to what is read here (its full type drags in the machine's generics).
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
type AnyTransition = { target?: readonly AnyNode[] | undefined; guard?: unknown; actions: readonly unknown[] };

/** A named action ("fail(ETIMEDOUT)" with its params); undefined for an inline function. */
function actionName(a: unknown): string | undefined {
  if (typeof a === 'string') return a;
  if (a !== null && typeof a === 'object' && 'type' in a) {
    const t = (a as { type: unknown }).type;
    const p = (a as { params?: Record<string, unknown> }).params;
    if (typeof t !== 'string') return undefined;
    return p ? `${t}(${Object.values(p).join(',')})` : t;
  }
  return undefined;
}

function guardName(g: unknown): string | undefined {
  if (g === undefined) return undefined;
  if (typeof g === 'string') return g;
  if (typeof g === 'function') {
    // XState's combinators: and([...]) / or([...]) / not(g) carry their operands, stateIn its state.
    const f = g as { name?: string; guards?: unknown[]; stateValue?: unknown };
    if (f.guards !== undefined) {
      const parts = f.guards.map(guardName);
      if (f.name === 'not') return `not ${parts[0]}`;
      return parts.join(f.name === 'or' ? ' or ' : ' and ');
    }
    if (f.stateValue !== undefined) {
      return `in ${typeof f.stateValue === 'string' ? pathOfId(f.stateValue) : JSON.stringify(f.stateValue)}`;
    }
    return f.name || 'guard';
  }
  if (g !== null && typeof g === 'object' && 'type' in g) return String((g as { type: unknown }).type);
  return 'guard';
}

function pathOfId(id: string): string {
  return id.replace(/^#?utp\.?/, '');
}

const named = (actions: readonly unknown[]): string[] =>
  actions.map(actionName).filter((a): a is string => a !== undefined);

function outline(node: AnyNode): StateOutline {
  const transitions: TransitionOutline[] = [];
  const add = (on: string, t: AnyTransition) => {
    const guard = guardName(t.guard);
    transitions.push({
      on,
      ...(guard ? { guard } : {}),
      actions: named(t.actions),
      targets: (t.target ?? []).map((n) => pathOfId(n.id)),
    });
  };
  for (const [event, ts] of node.transitions) {
    if (event.startsWith('xstate.after')) continue;
    for (const t of ts) add(event, t);
  }
  for (const t of node.after) add(`after ${typeof t.delay === 'string' ? t.delay : String(t.delay)}`, t);
  for (const t of node.always ?? []) add('always', t);
  const kind = node.type === 'final' || node.type === 'parallel' || node.type === 'compound' ? node.type : 'atomic';
  const initial = node.initial?.target[0];
  return {
    path: pathOfId(node.id),
    key: node.key,
    kind,
    ...(initial && kind === 'compound' ? { initial: initial.key } : {}),
    entry: named(node.entry),
    transitions,
    children: Object.values(node.states).map(outline),
  };
}

export function chartOutline(): StateOutline {
  return outline(connectionMachine.root as unknown as AnyNode);
}
