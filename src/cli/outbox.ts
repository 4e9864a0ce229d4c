import type { Command } from 'commander';
import { ArgumentError } from '../core/errors.js';
import { dropCdc, type CdcSlotStatus } from '../postgres/cdc-replication.js';
import { outboxStatus, replayOutbox } from '../postgres/outbox-admin.js';
import type { Publisher } from '../transports/transport.js';
import { requireMigrated, resolveDatabaseUrl, resolveTransportSpec, describeTransportSpec, usingConnections } from './connections.js';
import { TIME_FORMS, addConnectionOptions, addJsonOption, parsePositiveNumber, parseTime, schemaOption } from './options.js';
import { Output, formatDuration, formatTime, type CliIo } from './output.js';
import { PROGRESS_FROM_ITEMS, quietOption, startProgress } from './progress.js';

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
  quiet?: boolean;
}

/** Adds `datasync outbox status`, `datasync outbox replay` and `datasync outbox cdc drop`. */
export function addOutboxCommands(program: Command, io: CliIo): void {
  const outbox = program.command('outbox').description('inspect the transactional outbox and re-publish ranges of it');

  const status = outbox.command('status').description('pending rows, oldest pending age, retained rows, relay cursor, leader and heartbeat; CDC slot lag and retained WAL').addOption(schemaOption());
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
        ...(s.cdc ? cdcFields(output, s.cdc) : []),
      ]);
    });
  });

  const cdc = outbox.command('cdc').description('the replication slot and publication of the CDC relay');
  const drop = cdc
    .command('drop')
    .description('drop the CDC replication slot and publication of an outbox, so PostgreSQL stops keeping WAL for it')
    .addOption(schemaOption());
  addConnectionOptions(drop, false);
  addJsonOption(drop);
  drop.addHelpText('after', `
Refuses while a CDC relay streams from the slot: stop the relay first. Rows not yet
published stay in the outbox beyond the relay cursor; the next relay (polling, or CDC with
a new slot) publishes them.

Example:
  datasync outbox cdc drop --schema catalog`);
  drop.action(async (options: StatusOptions) => {
    const output = new Output(io, options);
    const url = resolveDatabaseUrl(options.database, io.env);
    await usingConnections(async (connections) => {
      const pool = await connections.database(url);
      const result = await dropCdc(pool, options.schema);
      if (output.json) return output.document({ schema: options.schema, ...result });
      output.line(`${result.slotDropped ? 'dropped' : 'no'} replication slot ${result.slot}; ${result.publicationDropped ? 'dropped' : 'no'} publication ${result.publication}`);
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
    .option('--rate <events/s>', 'publish at most this many events per second (default: no limit)', parsePositiveNumber)
    .addOption(quietOption());
  addConnectionOptions(replay, true);
  addJsonOption(replay);
  replay.addHelpText('after', `
Rows not yet sent are left to the relay; the relay cursor is not moved.
Every consumer group of a topic receives the events again and skips those it
already processed (processed_events), so a replay applies only what was missed.
Progress goes to stderr (one updating line on a terminal); --quiet silences it.

Examples:
  datasync outbox replay --schema catalog --since 2h --topic catalog.product.updated --dry-run
  datasync outbox replay --schema catalog --since 2026-11-24T10:00:00Z --until 2026-11-24T11:00:00Z --rate 500`);
  replay.action(async (options: ReplayOptions) => {
    const output = new Output(io, options);
    if (options.until && options.until.getTime() <= options.since.getTime()) {
      throw new ArgumentError('--until', options.until.toISOString(), `a time later than --since (${options.since.toISOString()})`);
    }
    const databaseUrl = resolveDatabaseUrl(options.database, io.env);
    const transportSpec = resolveTransportSpec(options.transport, io.env);
    await usingConnections(async (connections) => {
      const pool = await connections.database(databaseUrl);
      await requireMigrated(pool, options.schema, OUTBOX_TABLES);
      const transport = options.dryRun ? undefined : await connections.transport(transportSpec, databaseUrl);
      const range = `${options.since.toISOString()} .. ${options.until?.toISOString() ?? 'now'}${options.topic ? `, topic ${options.topic}` : ''}`;
      const progress = startProgress(io, { label: 'replaying outbox events', finished: 're-published', noun: 'events', quiet: options.quiet, minTotal: PROGRESS_FROM_ITEMS });
      const result = await replayOutbox(pool, transport?.publisher ?? DRY_RUN_PUBLISHER, {
        schema: options.schema,
        since: options.since,
        until: options.until,
        topic: options.topic,
        dryRun: options.dryRun === true,
        ratePerSecond: options.rate,
        signal: io.signal,
        onProgress: (done, total) => progress.update(done, total),
      }).catch((error: unknown) => {
        progress.close();
        throw error;
      });
      progress.finish();
      if (output.json) {
        output.document({
          schema: options.schema, since: options.since, until: options.until ?? null, topic: options.topic ?? null,
          dryRun: options.dryRun === true, matched: result.matched, published: result.published,
        });
      } else if (options.dryRun) {
        output.line(`dry run: would re-publish ${result.matched} sent event${result.matched === 1 ? '' : 's'} of ${options.schema}.outbox (${range}); nothing published`);
      } else {
        output.line(`re-published ${result.published} of ${result.matched} sent event${result.matched === 1 ? '' : 's'} of ${options.schema}.outbox (${range}) to ${describeTransportSpec(transportSpec, databaseUrl)}`);
      }
    });
  });
}

/** The `outbox status` lines of a CDC slot. */
function cdcFields(output: Output, slot: CdcSlotStatus): [string, string][] {
  const state = slot.active ? output.style('active', 'green') : output.style('inactive: PostgreSQL keeps WAL until a relay streams again', 'yellow');
  return [
    ['cdc slot', `${slot.slot} (${state})`],
    ['slot confirmed', slot.confirmedFlushLsn ?? '-'],
    ['slot lag', formatBytes(slot.lagBytes)],
    ['retained WAL', `${formatBytes(slot.retainedWalBytes)}${slot.walStatus ? ` (wal_status ${slot.walStatus})` : ''}`],
  ];
}

/** `812 B`, `14.2 kB`, `3.1 MB`, `1.4 GB` (powers of 1024, as PostgreSQL's pg_size_pretty). */
function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
