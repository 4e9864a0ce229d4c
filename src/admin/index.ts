/** The admin API and the built-in dashboard (DESIGN.md section 2): `createAdminApp`, `startAdminServer`. */
export * from './admin-app.js';
export * from './server.js';
export * from './metrics-history.js';
export * from './dead-letter-view.js';
export * from './mask-pii.js';
