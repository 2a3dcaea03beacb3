/**
 * The CommonJS build's single bundle (tsup entry `cjs`): the root and both subpaths in one, so
 * they share their classes. scripts/cjs-root.mjs writes the entry points that require it:
 * dist/index.cjs (the root, callable like utp-native's), dist/protocol.cjs and dist/sim.cjs.
 */
import * as root from './index.js';
import * as protocol from './protocol.js';
import * as sim from './sim/index.js';

export { protocol, root, sim };
