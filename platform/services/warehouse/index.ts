/**
 * Warehouse: owns stock. It changes it on request (the HTTP API) and from orders (reserve,
 * release), fulfillments (ship) and returns (restock), and publishes every change through its
 * outbox. Stock never goes negative: on hand, reserved and available = on hand - reserved are
 * each ≥ 0 (CHECK constraints, and every change checks first).
 *
 * Owns:            warehouse.stock, warehouse.movements (stock.ts), warehouse.reservations (orders.ts)
 * Publishes:       warehouse.stock.changed (reasons received, reserved, released, shipped, returned, adjusted)
 * Keeps a copy of: catalog.product.created / updated / deleted → warehouse.products (products.ts): the
 *                  products it may stock. Acts on order.order.placed / status-changed,
 *                  fulfillment.fulfillment.status-changed, return.return.received (orders.ts).
 * Conflict rule:   stock is Warehouse's own (no conflict: every change locks the product's row);
 *                  the product copy is version-based (Catalog's version); orders, fulfillments and
 *                  returns take effect once each (a reservation per order line, a marker per
 *                  cancellation, shipment and receipt), whatever events repeat them.
 * Cache:           `warehouse:stock` (view.ts): GET /warehouse/stock/:productId, dropped by every
 *                  stock change and every applied product event.
 */
import type { PlatformModule } from '../../host/module.js';
import { warehouseTopics } from '../../contracts/warehouse.js';
import { warehouseAudit } from './audit.js';
import { orderHandlers, orderTables } from './orders.js';
import { productCopy, productHandlers } from './products.js';
import { warehouseRoutes } from './routes.js';
import { reservedStock, stockTable } from './stock.js';
import { StockViews, type StockView } from './view.js';
import { systemErrorReported } from '../../contracts/notification.js';

export { ADJUST_REASONS, adjustStock, DEFAULT_WAREHOUSE_ID, InsufficientStockError, type Stock, type StockAdjustment } from './stock.js';
export type { StockView } from './view.js';

/** The Warehouse service. */
export const warehouseModule: PlatformModule = {
  name: 'warehouse',
  summary: 'Owns stock (on hand, reserved, available); reserves for orders, ships for fulfillments, restocks returns, cached',
  migrations: [stockTable, reservedStock, productCopy, orderTables],
  // every consumer's dead letters are reported to Notification (platform/host/run.ts)
  publishes: [...warehouseTopics, systemErrorReported],
  mount: '/warehouse',
  build(ctx) {
    const views = new StockViews(ctx.cache.open<StockView>('warehouse', 'stock'), ctx.onError);
    return {
      handlers: [...productHandlers(views), ...orderHandlers(ctx.producer, views)],
      routes: warehouseRoutes({ producer: ctx.producer, db: ctx.pool, views, services: ctx.services }),
    };
  },
  audit: warehouseAudit,
};
