export * from './retry-policy.js';
export * from './circuit-breaker.js';
