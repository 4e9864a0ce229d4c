/**
 * `npm start`: the reference platform on one machine (DESIGN.md section 4), every service in
 * this process, on the embedded PostgreSQL unless `DATABASE_URL` or `--database` names a
 * server, over `DATASYNC_TRANSPORT` / `--transport` (default `postgres`). The same as
 * `datasync start`; the flags are the same (see platform/README.md):
 *
 *   --port <n>          HTTP API port (default 4300, or DATASYNC_HTTP_PORT; 0 = a free one)
 *   --admin-port <n>    dashboard and admin API port (default 4400, or DATASYNC_ADMIN_PORT; 0 = a free one, the default with --port 0)
 *   --no-admin          no dashboard
 *   --rate <n>          workload requests a second (default 20; none with --service unless given)
 *   --no-workload       no workload: data changes only through the API
 *   --service <name>    run only this service (repeatable)
 *   --transport <spec>  postgres, redis://…, nats://…, amqp://…
 *   --database <url>    PostgreSQL URL
 */
import { parseArgs } from 'node:util';
import { resolveHttpPort } from './http/server.js';
import { resolveAdminPort } from './host/dashboard.js';
import { parsePositiveNumber, runPlatform } from './host/start.js';

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const complain = (line: string): void => void process.stderr.write(`${line}\n`);

let code: number;
try {
  const { values: flags } = parseArgs({
    options: {
      port: { type: 'string' }, rate: { type: 'string' }, 'no-workload': { type: 'boolean' },
      'admin-port': { type: 'string' }, 'no-admin': { type: 'boolean' },
      service: { type: 'string', multiple: true }, transport: { type: 'string' }, database: { type: 'string' },
    },
  });
  code = await runPlatform({
    port: resolveHttpPort(flags.port),
    adminPort: flags['no-admin'] ? false : resolveAdminPort(flags['admin-port']),
    rate: flags['no-workload'] ? 0 : flags.rate === undefined ? undefined : parsePositiveNumber('--rate', flags.rate),
    services: flags.service,
    transport: flags.transport,
    database: flags.database,
    say, complain,
  });
} catch (error) {
  complain(`datasync: ${error instanceof Error ? error.message : String(error)}`);
  code = 2;
}
process.exit(code);
