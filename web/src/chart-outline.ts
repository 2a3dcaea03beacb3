/**
 * The lifecycle chart as a plain tree (src/machines/outline.ts, read from the machine at runtime)
 * and the two helpers the chart view needs: every state's path, and the states a trace's state
 * string makes active.
 */
import type { StateOutline } from './engine.js';

export { chartOutline, type StateOutline, type TransitionOutline } from './engine.js';

/** Every path of the tree (root excluded), depth first. */
export function allPaths(node: StateOutline): string[] {
  return node.children.flatMap((c) => [c.path, ...allPaths(c)]);
}

/**
 * The states a trace's state string makes active: each leaf ("connected.send.open") and every
 * ancestor of it ("connected", "connected.send").
 */
export function activePaths(state: string): Set<string> {
  const out = new Set<string>();
  for (const leaf of state.split(',')) {
    if (leaf === '') continue;
    const parts = leaf.split('.');
    for (let i = 1; i <= parts.length; i++) out.add(parts.slice(0, i).join('.'));
  }
  return out;
}
