/**
 * The seed's Service Participation table (data-synchronization-checklist.md, section 7) as
 * its owners wrote it: the rows `datasync audit` prints, in that order, and the cells the
 * seed marks N/A. Everything else is a cell the audit must verify with a probe.
 */

/** The table's columns, as the audit names them. */
export const COLUMNS = ['producer', 'consumer', 'idempotency', 'schema', 'cache', 'dlq'] as const;
export type Column = (typeof COLUMNS)[number];

/** Column headings as the seed writes them. */
export const COLUMN_TITLES: Readonly<Record<Column, string>> = {
  producer: 'Data Producer',
  consumer: 'Data Consumer',
  idempotency: 'Idempotency',
  schema: 'Schema Validation',
  cache: 'Cache Invalidation',
  dlq: 'DLQ',
};

/** One row: the service (its module name) and the seed's N/A cells. */
export interface SeedRow {
  readonly service: string;
  readonly title: string;
  readonly na: readonly Column[];
}

const NO_CACHE: readonly Column[] = ['cache'];
const PRODUCER_ONLY: readonly Column[] = ['idempotency', 'schema', 'cache'];

/** The rows, in the seed's order. */
export const SEED_ROWS: readonly SeedRow[] = [
  { service: 'catalog', title: 'Catalog', na: [] },
  { service: 'search', title: 'Search', na: [] },
  { service: 'warehouse', title: 'Warehouse', na: [] },
  { service: 'pricing', title: 'Pricing', na: [] },
  { service: 'analytics', title: 'Analytics', na: NO_CACHE },
  { service: 'order', title: 'Order', na: NO_CACHE },
  { service: 'checkout', title: 'Checkout', na: NO_CACHE },
  { service: 'payment', title: 'Payment', na: NO_CACHE },
  { service: 'fulfillment', title: 'Fulfillment', na: NO_CACHE },
  { service: 'shipping', title: 'Shipping', na: NO_CACHE },
  { service: 'customer', title: 'Customer', na: NO_CACHE },
  { service: 'notification', title: 'Notification', na: NO_CACHE },
  { service: 'promotion', title: 'Promotion', na: PRODUCER_ONLY },
  { service: 'return', title: 'Return', na: NO_CACHE },
  { service: 'auth', title: 'Auth', na: PRODUCER_ONLY },
  { service: 'user', title: 'User', na: PRODUCER_ONLY },
  { service: 'review', title: 'Review', na: PRODUCER_ONLY },
  { service: 'loyalty', title: 'Loyalty', na: PRODUCER_ONLY },
  { service: 'location', title: 'Location', na: PRODUCER_ONLY },
  { service: 'gateway', title: 'Gateway', na: ['idempotency', 'schema', 'cache', 'dlq'] },
];
