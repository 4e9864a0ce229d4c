/** Prometheus metrics (prom-client). The observability issue grows this into the full set of DESIGN.md section 3. */
export * from './metrics.js';
