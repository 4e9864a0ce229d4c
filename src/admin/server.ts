import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { ConfigurationError } from '../core/errors.js';
import { createAdminApp, DEFAULT_ADMIN_PORT, type AdminApp, type AdminOptions } from './admin-app.js';

/** Configuration of {@link startAdminServer}: the app's, plus where to listen. */
export interface AdminServerOptions extends AdminOptions {
  /** Port; default 4400; 0 picks a free one. */
  readonly port?: number;
  /** Address to listen on; default 127.0.0.1. */
  readonly host?: string;
  /** How the user changes the port, named when it is taken; default `--admin-port / DATASYNC_ADMIN_PORT` (and `--no-admin` is suggested). */
  readonly portSetting?: string;
}

/** The dashboard and admin API, listening. */
export interface AdminServer {
  /** e.g. `http://127.0.0.1:4400`, with the actual port when 0 was asked for. */
  readonly url: string;
  readonly admin: AdminApp;
  /** Stops the metric readings and the server, ending open connections. Idempotent. */
  close(): Promise<void>;
}

/**
 * Serves {@link createAdminApp} on `host:port` (default 127.0.0.1:4400) and starts its
 * readings; rejects with a ConfigurationError naming the port and how to change it when the
 * port is taken.
 */
export async function startAdminServer(options: AdminServerOptions = {}): Promise<AdminServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_ADMIN_PORT;
  const loopback = ['127.0.0.1', 'localhost', '::1'].includes(host);
  // listening beyond loopback, the machine's names are not known here: any Host is answered
  const admin = createAdminApp({ ...options, allowedHosts: options.allowedHosts ?? (loopback ? undefined : 'any') });
  const server: ServerType = serve({ fetch: admin.app.fetch, port, hostname: host });
  try {
    await once(server, 'listening');
  } catch (cause) {
    admin.close();
    const code = (cause as NodeJS.ErrnoException).code;
    const setting = options.portSetting ?? '--admin-port / DATASYNC_ADMIN_PORT';
    const off = options.portSetting === undefined ? ', --no-admin runs without the dashboard' : '';
    throw new ConfigurationError(setting, port, `a port free on ${host} for the dashboard (${code === 'EADDRINUSE' ? `port ${port} is in use` : (cause as Error).message}; 0 picks a free one${off})`);
  }
  admin.start();
  const { port: actual } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}`,
    admin,
    close() {
      closed ??= new Promise<void>((resolve, reject) => {
        admin.close();
        server.close((error) => (error ? reject(error) : resolve()));
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
      return closed;
    },
  };
}
