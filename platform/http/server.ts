import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { ConfigurationError } from 'datasync/core';
import type { SqlExecutor } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import { catalogRoutes } from '../services/catalog/routes.js';
import { pricingRoutes } from '../services/pricing/routes.js';
import { searchRoutes } from '../services/search/routes.js';
import { warehouseRoutes } from '../services/warehouse/routes.js';
import { ApiError, errorResponse } from './errors.js';

/**
 * The platform's HTTP API on one port (single-process mode): each service's routes
 * (`services/<name>/routes.ts`) under its prefix, JSON in and out, errors as
 * `{"error": {"code", "message", "field"?}}` (see errors.ts). Bad input is a 4xx naming the
 * field; only a fault of the platform itself is a 500.
 */

/** The default port of the API (`DATASYNC_HTTP_PORT` or `--port` change it; 0 picks a free one). */
export const DEFAULT_HTTP_PORT = 4300;

/** What the routes use of the running services. */
export interface PlatformServices {
  /** Catalog's producer: each write is one of its transactions. */
  readonly catalog: { readonly producer: Producer };
  /** Where Search's read model is read. */
  readonly search: { readonly db: SqlExecutor };
  /** Pricing's producer: each price change is one of its transactions. */
  readonly pricing: { readonly producer: Producer };
  /** Warehouse's producer: each stock adjustment is one of its transactions. */
  readonly warehouse: { readonly producer: Producer };
}

/**
 * The app: routes of every service, JSON 404 for anything else, and the error handler.
 * `onError` hears the unexpected errors (answered with a 500).
 */
export function createApp(services: PlatformServices, onError?: (error: unknown) => void): Hono {
  const app = new Hono();
  app.route('/catalog', catalogRoutes(services.catalog));
  app.route('/search', searchRoutes(services.search));
  app.route('/pricing', pricingRoutes(services.pricing));
  app.route('/warehouse', warehouseRoutes(services.warehouse));
  app.notFound((c) => errorResponse(c, new ApiError(404, 'NOT_FOUND', `no route ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => {
    if (error instanceof ApiError) return errorResponse(c, error);
    onError?.(error);
    return errorResponse(c, new ApiError(500, 'INTERNAL', 'the request failed inside the platform; see its log'));
  });
  return app;
}

/**
 * The port from `--port` (`flag`) or else `DATASYNC_HTTP_PORT`, else {@link DEFAULT_HTTP_PORT};
 * throws a ConfigurationError naming the source unless it is an integer 0–65535.
 */
export function resolveHttpPort(flag: string | undefined, env: string | undefined = process.env.DATASYNC_HTTP_PORT): number {
  const [source, raw] = flag !== undefined ? ['--port', flag] : env !== undefined && env !== '' ? ['DATASYNC_HTTP_PORT', env] : [undefined, undefined];
  if (raw === undefined) return DEFAULT_HTTP_PORT;
  const port = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ConfigurationError(source ?? 'DATASYNC_HTTP_PORT', raw, 'a port number 0–65535 (0 picks a free port)');
  }
  return port;
}

/** The API listening. */
export interface HttpServer {
  /** e.g. `http://127.0.0.1:4300`, with the actual port when 0 was asked for. */
  readonly url: string;
  /** Stops accepting, ends open connections and resolves when the server is closed. Idempotent. */
  close(): Promise<void>;
}

/** Listens on `hostname:port` (default 127.0.0.1); rejects naming the address if it cannot. */
export async function startHttpServer(app: Hono, options: { port: number; hostname?: string }): Promise<HttpServer> {
  const hostname = options.hostname ?? '127.0.0.1';
  const server: ServerType = serve({ fetch: app.fetch, port: options.port, hostname });
  try {
    await once(server, 'listening');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new ConfigurationError('DATASYNC_HTTP_PORT / --port', options.port, `a port free on ${hostname} (${code === 'EADDRINUSE' ? 'this one is in use' : (cause as Error).message}; 0 picks a free one)`);
  }
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${hostname}:${port}`,
    close() {
      closed ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
      return closed;
    },
  };
}
