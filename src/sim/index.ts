export * from './network.js';
export * from './prng.js';
export * from './reno.js';
export * from './utp.js';
