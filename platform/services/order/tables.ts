import type { Migration } from 'datasync/postgres';

/**
 * Order's tables, in its own schema `order` (a reserved word in SQL: always written `"order"`).
 * Orders and their lines are Order's own; products, prices and customers are copies kept from
 * Catalog's, Pricing's and Customer's events; `status_history` records every status an order
 * took and what caused it (the consumed event's id), one row per change.
 */
export const orderMigrations: readonly Migration[] = [
  {
    id: 'order_0001_copies',
    sql: `CREATE TABLE IF NOT EXISTS {schema}.products (
      product_id  text PRIMARY KEY,
      sku         text,
      status      text,
      deleted     boolean NOT NULL DEFAULT false,
      version     integer NOT NULL,
      event_id    text NOT NULL,
      updated_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE IF NOT EXISTS {schema}.prices (
      product_id  text NOT NULL,
      currency    char(3) NOT NULL,
      amount      numeric NOT NULL CHECK (amount >= 0),
      version     integer NOT NULL,
      event_id    text NOT NULL,
      updated_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (product_id, currency)
    );
    CREATE TABLE IF NOT EXISTS {schema}.customers (
      customer_id       text PRIMARY KEY,
      email             text,
      recipient_name    text,
      shipping_address  jsonb,
      deleted           boolean NOT NULL DEFAULT false,
      version           integer NOT NULL,
      event_id          text NOT NULL,
      updated_at        timestamptz NOT NULL DEFAULT now()
    )`,
  },
  {
    id: 'order_0002_orders',
    sql: `CREATE TABLE IF NOT EXISTS {schema}.orders (
      id                uuid PRIMARY KEY,
      customer_id       uuid NOT NULL,
      email             text NOT NULL,
      status            text NOT NULL CHECK (status IN ('pending', 'confirmed', 'processing', 'shipped', 'delivered', 'cancelled')),
      cancel_reason     text,
      currency          char(3) NOT NULL,
      subtotal          numeric NOT NULL,
      discount_total    numeric NOT NULL,
      shipping_total    numeric NOT NULL,
      tax_total         numeric NOT NULL,
      total             numeric NOT NULL,
      shipping_address  jsonb NOT NULL,
      checkout_id       uuid NOT NULL UNIQUE,
      version           integer NOT NULL,
      placed_at         timestamptz NOT NULL,
      updated_at        timestamptz NOT NULL
    );
    CREATE INDEX IF NOT EXISTS orders_customer ON {schema}.orders (customer_id, placed_at DESC);
    CREATE TABLE IF NOT EXISTS {schema}.order_lines (
      order_id    uuid NOT NULL REFERENCES {schema}.orders (id),
      line_no     integer NOT NULL,
      product_id  uuid NOT NULL,
      sku         text NOT NULL,
      quantity    integer NOT NULL CHECK (quantity > 0),
      unit_price  numeric NOT NULL CHECK (unit_price >= 0),
      PRIMARY KEY (order_id, line_no)
    );
    CREATE TABLE IF NOT EXISTS {schema}.status_history (
      id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      order_id         uuid NOT NULL REFERENCES {schema}.orders (id),
      from_status      text,
      to_status        text NOT NULL,
      reason           text,
      version          integer NOT NULL,
      cause            text NOT NULL,
      cause_event_id   text,
      changed_at       timestamptz NOT NULL
    );
    CREATE INDEX IF NOT EXISTS status_history_order ON {schema}.status_history (order_id, version);
    CREATE INDEX IF NOT EXISTS status_history_cause ON {schema}.status_history (cause)`,
  },
];
