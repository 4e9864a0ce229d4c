import type { Command } from 'commander';
import { ArgumentError } from '../core/errors.js';
import { outboxStatus, replayOutbox } from '../postgres/outbox-admin.js';
import { redisAddressOf } from '../transports/redis-streams/index.js';
import type { Publisher } from '../transports/transport.js';
import { requireMigrated, resolveDatabaseUrl, resolveTransportUrl, usingConnections } from './connections.js';
import { TIME_FORMS, addConnectionOptions, addJsonOption, parsePositiveNumber, parseTime, schemaOption } from './options.js';
import { Output, Progress, formatDuration, formatTime, type CliIo } from './output.js';

const OUTBOX_TABLES = ['outbox', 'outbox_relay'] as const;

/** Stands in for the broker on a dry run, where replayOutbox only counts and never publishes. */
const DRY_RUN_PUBLISHER: Publisher = { publish: async () => undefined, close: async () => undefined };

interface StatusOptions {
  schema: string;
  database?: string;
  json?: boolean;
}

interface ReplayOptions extends StatusOptions {
  since: Date;
  until?: Date;
  topic?: string;
  dryRun?: boolean;
  rate?: number;
  transport?: string;
}

/** Adds `datasync outbox status` and `datasync outbox replay`. */
export function addOutboxCommands(program: Command, io: CliIo): void {
  const outbox = program.command('outbox').description('inspect the transactional outbox and re-publish ranges of it');

  const status = outbox.command('status').description('pending rows, oldest pending age, retained rows, relay cursor, leader and heartbeat').addOption(schemaOption());
  addConnectionOptions(status, false);
  addJsonOption(status);
  status.addHelpText('after', '\nExample:\n  datasync outbox status --schema catalog');
  status.action(async (options: StatusOptions) => {
    const output = new Output(io, options);
    const url = resolveDatabaseUrl(options.database, io.env);
    await usingConnections(async (connections) => {
      const pool = await connections.database(url);
      await requireMigrated(pool, options.schema, OUTBOX_TABLES);
      const s = await outboxStatus(pool, options.schema);
      if (output.json) return output.document(s);
      const ago = (date: Date | null): string => (date ? `${formatTime(date)} (${formatDuration(Math.max(0, Date.now() - date.getTime()) / 1_000)} ago)` : '-');
      output.fields([
        ['schema', s.schema],
        ['pending', output.style(String(s.pending), s.pending > 0 ? 'yellow' : 'green')],
        ['oldest pending', s.pending > 0 ? formatDuration(s.oldestPendingAgeSeconds) : '-'],
        ['retained (sent)', `${s.retained} (approximate)`],
        ['cursor', `xid ${s.cursor.xid}, id ${s.cursor.id}`],
        ['leader', s.leader ?? '- (no relay has run)'],
        ['leader since', formatTime(s.leaderSince)],
        ['fencing token', String(s.fencingToken)],
        ['heartbeat', ago(s.heartbeatAt)],
        ['published total', String(s.publishedTotal)],
      ]);
    });
  });

  const replay = outbox
    .command('replay')
    .description('re-publish the sent outbox rows created in [--since, --until) to the broker; consumers absorb the duplicates')
    .addOption(schemaOption())
    .requiredOption('--since <time>', `first created_at to include: ${TIME_FORMS}`, (value) => parseTime(value))
    .option('--until <time>', 'first created_at no longer included (default: no upper bound)', (value) => parseTime(value))
    .option('--topic <topic>', 'only rows of this topic (default: every topic)')
    .option('--dry-run', 'count the rows that would be re-published; publish nothing')
    .option('--rate <events/s>', 'publish at most this many events per second (default: no limit)', parsePositiveNumber);
  addConnectionOptions(replay, true);
  addJsonOption(replay);
  replay.addHelpText('after', `
Rows not yet sent are left to the relay; the relay cursor is not moved.
Every consumer group of a topic receives the events again and skips those it
already processed (processed_events), so a replay applies only what was missed.

Examples:
  datasync outbox replay --schema catalog --since 2h --topic catalog.product.updated --dry-run
  datasync outbox replay --schema catalog --since 2026-11-24T10:00:00Z --until 2026-11-24T11:00:00Z --rate 500`);
  replay.action(async (options: ReplayOptions) => {
    const output = new Output(io, options);
    if (options.until && options.until.getTime() <= options.since.getTime()) {
      throw new ArgumentError('--until', options.until.toISOString(), `a time later than --since (${options.since.toISOString()})`);
    }
    const databaseUrl = resolveDatabaseUrl(options.database, io.env);
    const transportUrl = resolveTransportUrl(options.transport, io.env);
    await usingConnections(async (connections) => {
      const pool = await connections.database(databaseUrl);
      await requireMigrated(pool, options.schema, OUTBOX_TABLES);
      const transport = options.dryRun ? undefined : await connections.transport(transportUrl);
      const range = `${options.since.toISOString()} .. ${options.until?.toISOString() ?? 'now'}${options.topic ? `, topic ${options.topic}` : ''}`;
      const progress = new Progress(output, 'outbox replay');
      const result = await replayOutbox(pool, transport?.publisher ?? DRY_RUN_PUBLISHER, {
        schema: options.schema,
        since: options.since,
        until: options.until,
        topic: options.topic,
        dryRun: options.dryRun === true,
        ratePerSecond: options.rate,
        signal: io.signal,
        onProgress: (done, total) => progress.update(done, total),
      });
      progress.finish(result.published, result.matched);
      if (output.json) {
        output.document({
          schema: options.schema, since: options.since, until: options.until ?? null, topic: options.topic ?? null,
          dryRun: options.dryRun === true, matched: result.matched, published: result.published,
        });
      } else if (options.dryRun) {
        output.line(`dry run: would re-publish ${result.matched} sent event${result.matched === 1 ? '' : 's'} of ${options.schema}.outbox (${range}); nothing published`);
      } else {
        output.line(`re-published ${result.published} of ${result.matched} sent event${result.matched === 1 ? '' : 's'} of ${options.schema}.outbox (${range}) to ${redisAddressOf(transportUrl)}`);
      }
    });
  });
}
