export * from './constants.js';
export * from './seq.js';
export * from './header.js';
export * from './codec.js';
