/**
 * `utpx/sim`: the deterministic, seeded network simulator — `SimNetwork` (hosts, links with delay,
 * jitter, loss, duplication, reordering, a bottleneck queue and an MTU, on a virtual clock),
 * `createSimEndpoint` (a utpx endpoint on it), `RenoFlow` (loss-based cross traffic) — to test an
 * application over a bad network, reproducibly and faster than real time.
 *
 * @module utpx/sim
 */
export * from './network.js';
export * from './prng.js';
export * from './reno.js';
export * from './utp.js';
