export * from './errors.js';
export * from './envelope.js';
export * from './contracts.js';
export * from './ids.js';
export * from './clock.js';
export * from './abort.js';
export * from './contract-check.js';
