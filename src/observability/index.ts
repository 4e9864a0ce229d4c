/** Observability: Prometheus metrics (prom-client) and OpenTelemetry tracing, DESIGN.md section 3. */
export * from './metrics.js';
export * from './sync-metrics.js';
export * from './tracing.js';
export * from './snapshot.js';
