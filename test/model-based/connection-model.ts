/**
 * The connection chart as a test model, traversed with @xstate/graph, plus the coverage arithmetic
 * (which chart transitions a path takes, which ones the chart defines).
 *
 * The chart's context is plain data and its effects are emitted, not performed, so the model is
 * the chart itself: with no listener its effects go nowhere. Guards read only the context and the
 * event (`retransmitLimitReached` the RTO count against the configured limit), explored by event
 * payloads.
 */
import { getAdjacencyMap, getPathsFromEvents, getShortestPaths, type StatePath } from '@xstate/graph';
import {
  __unsafe_getAllOwnEventDescriptors,
  type ActorLogic,
  type AnyStateNode,
  type AnyTransitionDefinition,
  createActor,
  type InspectionEvent,
  SimulatedClock,
  type SnapshotFrom,
} from 'xstate';
import {
  type ConnectionEvent,
  type ConnectionInput,
  connectionMachine,
  DEFAULT_LIFECYCLE,
} from '../../src/machines/connection.machine.js';

export type ModelSnapshot = SnapshotFrom<typeof connectionMachine>;
/** Events as the graph sees them: the chart's own plus the `xstate.after.*` events of its delays. */
export type ModelEvent = ConnectionEvent | { type: `xstate.after.${string}` };
export type ModelPath = StatePath<ModelSnapshot, ModelEvent>;

/** The chart itself: its effects are emitted to listeners, and a traversal has none. */
export const modelMachine = connectionMachine;

/** The same logic, typed for @xstate/graph with the delay events the chart's own types leave out. */
const graphLogic = modelMachine as unknown as ActorLogic<ModelSnapshot, ModelEvent, ConnectionInput>;

/**
 * One traversal of the chart. (The chart once read the world through its guards — the clock, the
 * time the peer was last heard — and was traversed once per world; now the core reports a silent
 * peer as an event, PEER_IDLE, and one world is all there is.)
 */
export interface ModelWorld {
  readonly name: string;
}

export const WORLDS: readonly ModelWorld[] = [{ name: 'the chart' }];

/** The default `maxRetransmits` (libutp kills a socket once retransmit_count reaches 4). */
export const RETRANSMIT_LIMIT = DEFAULT_LIFECYCLE.maxRetransmits;

export function modelInput(_world: ModelWorld): ConnectionInput {
  return { config: DEFAULT_LIFECYCLE };
}

/** A SYN is only looked at by `acceptSyn`, which the model does not run. */
const SAMPLE_SYN = new Uint8Array(20);

/** Sample payloads; event types the chart knows but this list lacks are offered bare (`{ type }`). */
export const SAMPLE_EVENTS: readonly ModelEvent[] = [
  { type: 'CONNECT' },
  { type: 'SYN', packet: SAMPLE_SYN },
  { type: 'END' },
  { type: 'DESTROY' },
  { type: 'DESTROY', code: 'ECONNRESET' },
  { type: 'SYN_ACKED' },
  { type: 'PEER_ACKED' },
  { type: 'FIN_RECEIVED' },
  { type: 'EOF_DELIVERED' },
  { type: 'FIN_ACKED' },
  { type: 'RESET_RECEIVED' },
  { type: 'RTO_FIRED', count: 1 },
  { type: 'RTO_FIRED', count: RETRANSMIT_LIMIT + 1 },
  // Only our FIN unacked, the second time: the peer closed and forgot the connection (libtorrent).
  { type: 'RTO_FIRED', count: 2, finOnly: true },
  { type: 'PEER_IDLE' },
];

/** The context a guard or a later step depends on; the config is fixed. */
export function serializeModelState(s: ModelSnapshot): string {
  const { synAttempts, synRtoMs, endRequested, code } = s.context;
  return JSON.stringify({ value: s.value, synAttempts, synRtoMs, endRequested, code });
}

export function serializeModelEvent(e: ModelEvent): string {
  if (e.type === 'SYN') return '{"type":"SYN"}';
  return JSON.stringify(e);
}

/** The events a state listens to (its own descriptors, delayed ones included), with sample payloads. */
function eventsFor(state: ModelSnapshot): ModelEvent[] {
  return __unsafe_getAllOwnEventDescriptors(state).flatMap((type) => {
    const samples = SAMPLE_EVENTS.filter((e) => e.type === type);
    return samples.length > 0 ? samples : [{ type } as ModelEvent];
  });
}

// @xstate/graph lets an `events` option replace its own per-state default wholesale, so it is a function here.
function traversalOptions(world: ModelWorld) {
  return {
    input: modelInput(world),
    events: eventsFor,
    serializeState: serializeModelState,
    serializeEvent: serializeModelEvent,
  };
}

// ------------------------------------------------------------------ transitions, named

/** `<source id> <event type or "always"> #<index among the candidates for that event>`. */
export function transitionKey(t: AnyTransitionDefinition): string {
  const source = t.source;
  const list = t.eventType === '' ? (source.always ?? []) : (source.transitions.get(t.eventType) ?? []);
  const index = list.indexOf(t);
  if (index < 0) throw new Error(`transition not found on its source: ${source.id} ${t.eventType}`);
  const guard = typeof t.guard === 'string' ? ` [${t.guard}]` : t.guard ? ' [guarded]' : '';
  const target = t.target ? t.target.map((n) => n.id).join(',') : '(none)';
  return `${source.id} ${t.eventType || 'always'}#${index}${guard} -> ${target}`;
}

/** An event every candidate of which is guarded, taken while no guard held: "nothing happens" is a branch too. */
export function rejectedKey(source: AnyStateNode, eventType: string): string {
  return `${source.id} ${eventType} rejected`;
}

function allNodes(root: AnyStateNode): AnyStateNode[] {
  return [root, ...Object.values(root.states).flatMap((s) => allNodes(s as AnyStateNode))];
}

/** Every state node id, every transition and every "all guards false" branch the chart defines. */
export function chartInventory(machine: typeof connectionMachine = modelMachine) {
  const nodes = allNodes(machine.root);
  const states = new Set(nodes.filter((n) => n !== machine.root).map((n) => n.id));
  const transitions = new Set<string>();
  for (const n of nodes) {
    for (const [eventType, list] of n.transitions) {
      for (const t of list) transitions.add(transitionKey(t));
      if (list.length > 0 && list.every((t) => t.guard !== undefined)) transitions.add(rejectedKey(n, eventType));
    }
    for (const t of n.always ?? []) transitions.add(transitionKey(t));
  }
  return { states, transitions };
}

/** What one step did, read from XState's microstep inspection. */
export interface StepEffect {
  /** Transitions taken, eventless ones included, in order. */
  readonly transitions: string[];
  /** Events that took no transition although some candidate existed (guards false). */
  readonly rejected: string[];
}

/** Turns a stream of microstep inspection events (of one actor system) into transition keys. */
export function microstepRecorder() {
  const taken: string[] = [];
  const rejected: string[] = [];
  const inspect = (ev: InspectionEvent) => {
    if (ev.type !== '@xstate.microstep') return;
    const ts = (ev as unknown as { _transitions: AnyTransitionDefinition[] })._transitions;
    if (ts.length > 0) {
      for (const t of ts) taken.push(transitionKey(t));
      return;
    }
    const type = ev.event.type;
    // Internal events (xstate.init, xstate.done.state.*) are not the chart's to refuse.
    if (type.startsWith('xstate.') && !type.startsWith('xstate.after.')) return;
    const snapshot = ev.snapshot as ModelSnapshot;
    for (const n of snapshot._nodes as AnyStateNode[]) {
      const list = n.transitions.get(type);
      if (list && list.length > 0 && list.every((t) => t.guard !== undefined)) rejected.push(rejectedKey(n, type));
    }
  };
  return {
    inspect,
    /** Everything recorded since the last `take`, left in place. */
    peek(): StepEffect {
      return { transitions: taken, rejected };
    },
    /** Everything recorded since the last call. */
    take(): StepEffect {
      return { transitions: taken.splice(0), rejected: rejected.splice(0) };
    },
  };
}

/** A path replayed on the model chart: the snapshot after each step and what each step did. */
export interface ModelReplay {
  /** Entry 0 is the initial state; entry i the state after event i. */
  readonly snapshots: ModelSnapshot[];
  readonly effects: StepEffect[];
}

/**
 * Replays events on the model chart alone. Delays never fire on their own (the clock is simulated
 * and never advanced); `xstate.after.*` events are sent like any other.
 */
export function replayModel(events: readonly ModelEvent[], world: ModelWorld): ModelReplay {
  const rec = microstepRecorder();
  const actor = createActor(modelMachine, {
    input: modelInput(world),
    clock: new SimulatedClock(),
    inspect: rec.inspect,
  });
  actor.start();
  const snapshots = [actor.getSnapshot()];
  const effects = [rec.take()];
  for (const event of events) {
    actor.send(event as ConnectionEvent);
    snapshots.push(actor.getSnapshot());
    effects.push(rec.take());
  }
  actor.stop();
  return { snapshots, effects };
}

// ------------------------------------------------------------------ path generation

export interface GeneratedPath extends ModelReplay {
  readonly world: ModelWorld;
  readonly path: ModelPath;
  readonly events: readonly ModelEvent[];
  readonly name: string;
}

/** Whether the real world can produce a step: `event` sent in `before`. */
export type Feasible = (before: ModelSnapshot, event: ModelEvent) => boolean;

export function eventLabel(e: ModelEvent): string {
  if (e.type.startsWith('xstate.after.')) return `after(${e.type.split('.')[2]})`;
  if (e.type === 'DESTROY') return 'code' in e && e.code ? `DESTROY(${e.code})` : 'DESTROY()';
  if (e.type === 'RTO_FIRED') {
    const { count, finOnly } = e as { count: number; finOnly?: boolean };
    return finOnly ? `RTO_FIRED(${count}, FIN only)` : `RTO_FIRED(${count})`;
  }
  return e.type;
}

/**
 * Paths that together take every transition of the chart. Candidates are every edge of the
 * adjacency map appended to @xstate/graph's shortest path to its source state, in both worlds;
 * a greedy pass keeps, shortest first (ties in traversal order), each candidate that takes a
 * transition no kept one takes yet. A kept path that is a prefix of another is then dropped.
 * Candidates with a step the real world cannot produce (`feasible`) are never kept.
 */
export function generatePaths(feasible: Feasible = () => true): GeneratedPath[] {
  const inventory = chartInventory();
  interface Candidate {
    world: ModelWorld;
    events: ModelEvent[];
    covers: Set<string>;
  }
  const candidates: Candidate[] = [];
  for (const world of WORLDS) {
    const opts = traversalOptions(world);
    const shortest = getShortestPaths(graphLogic, opts);
    const adjacency = getAdjacencyMap(graphLogic, opts);
    for (const p of shortest) {
      const prefix = p.steps.slice(1).map((s) => s.event as ModelEvent);
      const key = serializeModelState(p.state);
      const node = adjacency[key as keyof typeof adjacency];
      if (!node) throw new Error(`state missing from the adjacency map: ${key}`);
      for (const { event } of Object.values(node.transitions)) {
        const events = [...prefix, event as ModelEvent];
        const { snapshots, effects } = replayModel(events, world);
        if (!events.every((e, i) => feasible(snapshots[i] as ModelSnapshot, e))) continue;
        const covers = new Set(effects.flatMap((e) => [...e.transitions, ...e.rejected]));
        candidates.push({ world, events, covers });
      }
    }
  }
  // Greedy: shortest candidate that covers something new, until nothing is left to cover.
  candidates.sort((a, b) => a.events.length - b.events.length);
  const covered = new Set<string>();
  const chosen: Candidate[] = [];
  for (const c of candidates) {
    if ([...c.covers].some((k) => !covered.has(k))) {
      chosen.push(c);
      for (const k of c.covers) covered.add(k);
    }
  }
  const missing = [...inventory.transitions].filter((k) => !covered.has(k));
  if (missing.length > 0) throw new Error(`no feasible path takes: ${missing.join('; ')}`);
  // Drop paths that are a prefix of another chosen path (same world).
  const sig = (c: Candidate) => c.events.map(serializeModelEvent);
  const kept = chosen.filter(
    (c) =>
      !chosen.some(
        (o) =>
          o !== c &&
          o.world === c.world &&
          o.events.length > c.events.length &&
          sig(c).every((s, i) => s === sig(o)[i]),
      ),
  );
  return kept.map((c) => ({
    world: c.world,
    path: materialize(c.world, c.events),
    events: c.events,
    ...replayModel(c.events, c.world),
    name: c.events.map(eventLabel).join(' → '),
  }));
}

function materialize(world: ModelWorld, events: ModelEvent[]): ModelPath {
  // getPathsFromEvents would start from an input-less initial state; hand it the right one.
  const { events: _all, ...opts } = traversalOptions(world);
  const fromState = createActor(modelMachine, { input: opts.input, clock: new SimulatedClock() }).getSnapshot();
  const paths = getPathsFromEvents(graphLogic, events, { ...opts, fromState });
  const path = paths[0];
  if (!path) throw new Error(`not a path: ${events.map(eventLabel).join(' → ')}`);
  return path;
}
