import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import { ConfigurationError } from 'datasync/core';

/**
 * The platform's HTTP server: one port per process, every service of the process under its
 * prefix (platform/host/run.ts builds the app), JSON in and out, errors as
 * `{"error": {"code", "message", "field"?}}` (see errors.ts). Bad input is a 4xx naming the
 * field; only a fault of the platform itself is a 500.
 */

/** The default port of the API (`DATASYNC_HTTP_PORT` or `--port` change it; 0 picks a free one). */
export const DEFAULT_HTTP_PORT = 4300;

/**
 * The port from `--port` (`flag`) or else `DATASYNC_HTTP_PORT`, else {@link DEFAULT_HTTP_PORT};
 * throws a ConfigurationError naming the source unless it is an integer 0–65535.
 */
export function resolveHttpPort(flag: string | undefined, env: string | undefined = process.env.DATASYNC_HTTP_PORT): number {
  return resolvePort({ flag: ['--port', flag], env: ['DATASYNC_HTTP_PORT', env], hint: '0 picks a free port' }) ?? DEFAULT_HTTP_PORT;
}

/**
 * A port from a command-line flag, else from an environment variable (an empty one counts as
 * unset); undefined when neither is given. A ConfigurationError names the source unless it is an
 * integer 0–65535; `hint` ends its message.
 */
export function resolvePort(options: { flag: [name: string, value: string | undefined]; env: [name: string, value: string | undefined]; hint: string }): number | undefined {
  const [flagName, flagValue] = options.flag;
  const [envName, envValue] = options.env;
  const [source, raw] = flagValue !== undefined ? [flagName, flagValue] : envValue !== undefined && envValue !== '' ? [envName, envValue] : [undefined, undefined];
  if (raw === undefined) return undefined;
  const port = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ConfigurationError(source ?? envName, raw, `a port number 0–65535 (${options.hint})`);
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
