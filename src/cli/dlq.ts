import { userInfo } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { Option, type Command } from 'commander';
import type pg from 'pg';
import { ArgumentError, SyncError } from '../core/errors.js';
import { discardDeadLetter, replayDeadLetter } from '../postgres/dead-letter-replay.js';
import { DeadLetterStore, type DeadLetter, type DeadLetterFilter } from '../postgres/dead-letter-store.js';
import { requireMigrated, resolveDatabaseUrl, resolveTransportSpec, usingConnections, type CliEnv } from './connections.js';
import { CommandFailure } from './failure.js';
import { TIME_FORMS, addConnectionOptions, addJsonOption, parseNonEmpty, parsePositiveInteger, parsePositiveNumber, parseTime, schemaOption } from './options.js';
import { Output, formatTime, truncate, type CliIo, type Column, type Style } from './output.js';
import { PROGRESS_FROM_ITEMS, quietOption, startProgress } from './progress.js';

const DLQ_TABLES = ['dead_letters'] as const;
/** Replay and discard also record who did it (`audit_log`). */
const DLQ_ACTION_TABLES = ['dead_letters', 'audit_log'] as const;
const STATUSES = ['pending', 'replayed', 'discarded', 'all'] as const;
/** How many pending dead letters one filtered `dlq replay` takes at most without `--limit`. */
const DEFAULT_REPLAY_LIMIT = 10_000;

interface CommonOptions {
  schema: string;
  database?: string;
  json?: boolean;
}

interface FilterOptions {
  topic?: string;
  consumer?: string;
  error?: string;
  since?: Date;
  limit?: number;
}

interface ListOptions extends CommonOptions, FilterOptions {
  status: (typeof STATUSES)[number];
}

interface ReplayOptions extends CommonOptions, FilterOptions {
  all?: boolean;
  force?: boolean;
  dryRun?: boolean;
  rate?: number;
  transport?: string;
  quiet?: boolean;
}

interface DiscardOptions extends CommonOptions {
  dryRun?: boolean;
}

/** One dead letter a replay or discard left alone, and why. */
interface Skipped {
  readonly id: string;
  readonly reason: string;
}

/** Adds `datasync dlq list|show|replay|discard`. */
export function addDlqCommands(program: Command, io: CliIo): void {
  const dlq = program.command('dlq').description('inspect, replay and discard dead letters (events a consumer gave up on)');
  addList(dlq, io);
  addShow(dlq, io);
  addReplay(dlq, io);
  addDiscard(dlq, io);
}

function addFilterOptions(command: Command, limitHelp: string): Command {
  return command
    .option('--topic <topic>', 'only dead letters of this topic', (value) => parseNonEmpty('--topic', value))
    .option('--consumer <name>', 'only dead letters of this consumer (service name)', (value) => parseNonEmpty('--consumer', value))
    .option('--error <text>', 'only those whose error message, class or code contains this text (case-insensitive, literally)', (value) => parseNonEmpty('--error', value))
    .option('--since <time>', `only those that last failed at or after this time: ${TIME_FORMS}`, (value) => parseTime(value))
    .option('--limit <n>', limitHelp, parsePositiveInteger);
}

function filterOf(options: FilterOptions): DeadLetterFilter {
  return { topic: options.topic, consumer: options.consumer, error: options.error, since: options.since, limit: options.limit };
}

function hasFilter(options: FilterOptions): boolean {
  return options.topic !== undefined || options.consumer !== undefined || options.error !== undefined || options.since !== undefined;
}

/** Who runs the command, as `audit_log` records it: `cli:<os user>`. */
function cliActor(env: CliEnv): string {
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    user = undefined; // no passwd entry for this uid (some containers)
  }
  return `cli:${user || env.USER || env.USERNAME || 'unknown'}`;
}

/** Checks ids before anything connects: whole numbers, duplicates dropped. */
function checkIds(ids: readonly string[]): string[] {
  for (const id of ids) {
    if (!/^\d{1,18}$/.test(id)) throw new ArgumentError('<id>', id, 'a dead-letter id: a whole number, as `datasync dlq list` shows');
  }
  return [...new Set(ids)];
}

/** The dead letters with these ids, in id order; DEAD_LETTER_NOT_FOUND naming every missing one. */
async function fetchByIds(pool: pg.Pool, store: DeadLetterStore, ids: readonly string[]): Promise<DeadLetter[]> {
  const letters = await store.list(pool, { ids, status: 'all', limit: ids.length });
  const found = new Set(letters.map((letter) => letter.id));
  const missing = ids.filter((id) => !found.has(id));
  if (missing.length > 0) {
    const which = missing.length === 1 ? `dead letter ${missing[0]}` : `dead letters ${missing.join(', ')}`;
    throw new SyncError('DEAD_LETTER_NOT_FOUND', `${which} not found in ${store.schema}.dead_letters; nothing was changed. See the ids with: datasync dlq list --schema ${store.schema} --status all`, { permanent: true });
  }
  return letters;
}

const STATUS_STYLE: Record<DeadLetter['status'], Style> = { pending: 'yellow', replayed: 'green', discarded: 'dim' };

function errorOf(letter: DeadLetter): string {
  return `${letter.errorClass}: ${letter.errorMessage}`;
}

/** A dead letter as `dlq list --json` shows it: everything but the envelope and raw body. */
function summaryOf(letter: DeadLetter): Omit<DeadLetter, 'envelope' | 'rawBody'> & { replayable: boolean } {
  const { envelope, rawBody: _rawBody, ...rest } = letter;
  return { ...rest, replayable: envelope !== null };
}

function addList(dlq: Command, io: CliIo): void {
  const command = dlq.command('list').description('list dead letters, oldest first').addOption(schemaOption());
  addFilterOptions(command, 'show at most n (default 100)');
  command.addOption(new Option('--status <status>', 'which ones').choices(STATUSES).default('pending'));
  addConnectionOptions(command, false);
  addJsonOption(command);
  command.addHelpText('after', `
Examples:
  datasync dlq list --schema search
  datasync dlq list --schema search --topic catalog.product.updated --error timeout --since 2h --status all --json`);
  command.action(async (options: ListOptions) => {
    const output = new Output(io, options);
    const url = resolveDatabaseUrl(options.database, io.env);
    await usingConnections(async (connections) => {
      const pool = await connections.database(url);
      await requireMigrated(pool, options.schema, DLQ_TABLES);
      const limit = options.limit ?? 100;
      const letters = await new DeadLetterStore(options.schema).list(pool, { ...filterOf(options), status: options.status, limit });
      if (letters.length === limit) output.note(`showing the first ${limit}; there may be more (raise --limit)`);
      if (output.json) return output.document({ schema: options.schema, status: options.status, deadLetters: letters.map(summaryOf) });
      if (letters.length === 0) return output.line(`no ${options.status === 'all' ? '' : `${options.status} `}dead letters match in ${options.schema}`);
      const columns: Column<DeadLetter>[] = [
        { header: 'ID', value: (l) => l.id },
        { header: 'TOPIC', value: (l) => l.topic },
        { header: 'CONSUMER', value: (l) => l.consumer },
        { header: 'REASON', value: (l) => l.reason },
        { header: 'ERROR', value: (l) => truncate(errorOf(l), 60), style: () => 'red' },
        { header: 'ATTEMPTS', value: (l) => String(l.attempts) },
        { header: 'FIRST FAILED', value: (l) => formatTime(l.firstFailedAt) },
        { header: 'LAST FAILED', value: (l) => formatTime(l.lastFailedAt) },
        { header: 'STATUS', value: (l) => l.status, style: (l) => STATUS_STYLE[l.status] },
      ];
      output.table(columns, letters);
    });
  });
}

function addShow(dlq: Command, io: CliIo): void {
  const command = dlq.command('show').description('show one dead letter with its failure context and its event').argument('<id>', 'dead-letter id').addOption(schemaOption());
  addConnectionOptions(command, false);
  addJsonOption(command);
  command.addHelpText('after', '\nExample:\n  datasync dlq show 42 --schema search');
  command.action(async (id: string, options: CommonOptions) => {
    const output = new Output(io, options);
    const [checked] = checkIds([id]);
    const url = resolveDatabaseUrl(options.database, io.env);
    await usingConnections(async (connections) => {
      const pool = await connections.database(url);
      await requireMigrated(pool, options.schema, DLQ_TABLES);
      const letter = await new DeadLetterStore(options.schema).get(pool, checked!);
      if (output.json) return output.document(letter);
      output.fields([
        ['dead letter', `${letter.id} in ${options.schema}`],
        ['status', output.style(letter.status, STATUS_STYLE[letter.status])],
        ['topic', letter.topic],
        ['consumer', letter.consumer],
        ['event id', letter.eventId ?? '-'],
        ['partition key', letter.partitionKey ?? '-'],
        ['reason', letter.reason],
        ['error', output.style(errorOf(letter), 'red')],
        ['error code', letter.errorCode ?? '-'],
        ['attempts', String(letter.attempts)],
        ['first failed', formatTime(letter.firstFailedAt)],
        ['last failed', formatTime(letter.lastFailedAt)],
        ['replayed', letter.replayCount === 0 ? '-' : `${letter.replayCount} time${letter.replayCount === 1 ? '' : 's'}, last ${formatTime(letter.replayedAt)}`],
        ['discarded', formatTime(letter.discardedAt)],
      ]);
      output.line();
      if (letter.envelope !== null) {
        output.line(output.style('envelope:', 'bold'));
        output.line(JSON.stringify(letter.envelope, null, 2));
      } else {
        output.line(output.style('raw body (not a CloudEvent, so it cannot be replayed):', 'bold'));
        output.line(letter.rawBody ?? '(none: the message had no data field)');
      }
    });
  });
}

function addReplay(dlq: Command, io: CliIo): void {
  const command = dlq
    .command('replay')
    .description('re-publish dead letters\' original events on their topics, then mark them replayed')
    .argument('[id...]', 'dead-letter ids (pending or replayed; discarded ones need --force)')
    .addOption(schemaOption());
  addFilterOptions(command, `replay at most n (default ${DEFAULT_REPLAY_LIMIT})`);
  command
    .option('--all', 'with no ids and no filters: replay every pending dead letter')
    .option('--force', 'also replay discarded dead letters given by id')
    .option('--dry-run', 'print what would be replayed; publish nothing, change nothing')
    .option('--rate <events/s>', 'publish at most this many events per second (default: no limit)', parsePositiveNumber)
    .addOption(quietOption());
  addConnectionOptions(command, true);
  addJsonOption(command);
  command.addHelpText('after', `
With ids, replays those. Without ids, replays every pending dead letter matching the
filters; with neither, refuses unless --all is given.

Each original CloudEvent (without the dlq* attributes) is published again on its
original topic, so every consumer group of that topic receives it: the consumer
that dead-lettered it applies it, and groups that already processed it skip it as a
duplicate (processed_events). Replaying twice therefore applies once. A dead letter
without an envelope (a malformed message) cannot be replayed and is skipped.
From ${PROGRESS_FROM_ITEMS} dead letters on, progress goes to stderr; --quiet silences it.

Examples:
  datasync dlq replay 42 43 --schema search
  datasync dlq replay --schema search --topic catalog.product.updated --since 1h --dry-run
  datasync dlq replay --schema search --all --rate 100`);
  command.action(async (rawIds: string[], options: ReplayOptions) => {
    const progress = options.dryRun
      ? startProgress(io, { label: 'checking dead letters (dry run)', finished: 'dry run: would replay', noun: 'dead letters', quiet: options.quiet, minTotal: PROGRESS_FROM_ITEMS })
      : startProgress(io, { label: 'replaying dead letters', finished: 'replayed', noun: 'dead letters', quiet: options.quiet, minTotal: PROGRESS_FROM_ITEMS });
    const output = new Output(progress.share(io), options);
    const ids = checkIds(rawIds);
    if (ids.length > 0 && (hasFilter(options) || options.all || options.limit !== undefined)) {
      throw new SyncError('ARGUMENT_INVALID', 'dlq replay: give either dead-letter ids or filters (--topic, --consumer, --error, --since, --limit, --all), not both', { permanent: true });
    }
    if (ids.length === 0 && !hasFilter(options) && !options.all) {
      throw new SyncError('ARGUMENT_INVALID', 'dlq replay: no dead letters selected; give ids, a filter (--topic, --consumer, --error, --since), or --all to replay every pending one', { permanent: true });
    }
    if (ids.length === 0 && options.force) {
      throw new ArgumentError('--force', true, 'only with dead-letter ids (a filtered replay takes pending dead letters only)');
    }
    const databaseUrl = resolveDatabaseUrl(options.database, io.env);
    const transportSpec = resolveTransportSpec(options.transport, io.env);
    await usingConnections(async (connections) => {
      const pool = await connections.database(databaseUrl);
      await requireMigrated(pool, options.schema, options.dryRun ? DLQ_TABLES : DLQ_ACTION_TABLES);
      const publisher = options.dryRun ? undefined : (await connections.transport(transportSpec, databaseUrl)).publisher;
      const store = new DeadLetterStore(options.schema);
      const byId = ids.length > 0;
      const limit = options.limit ?? DEFAULT_REPLAY_LIMIT;
      const letters = byId ? await fetchByIds(pool, store, ids) : await store.list(pool, { ...filterOf(options), status: 'pending', limit });
      if (!byId && letters.length === limit) output.note(`taking the first ${limit} matching dead letters; run again (or raise --limit) for the rest`);

      const replayed: DeadLetter[] = [];
      const skipped: Skipped[] = [];
      const skip = (letter: DeadLetter, reason: string): void => {
        skipped.push({ id: letter.id, reason });
        output.note(`datasync: dead letter ${letter.id} skipped: ${reason}`);
      };
      const started = Date.now();
      for (const letter of letters) {
        io.signal?.throwIfAborted();
        if (letter.envelope === null) {
          skip(letter, `it has no envelope (reason ${letter.reason}: the message was not a CloudEvent; raw body only), so there is nothing to publish. Inspect it with dlq show, then dlq discard it`);
          continue;
        }
        if (letter.status === 'discarded' && !options.force) {
          skip(letter, 'it was discarded; add --force to replay it anyway');
          continue;
        }
        if (!options.dryRun) {
          const outcome = await replayDeadLetter(pool, store, publisher!, { ...letter, envelope: letter.envelope }, { actor: cliActor(io.env), byId, force: options.force === true, signal: io.signal });
          if (outcome !== undefined) {
            skip(letter, outcome);
            continue;
          }
          if (options.rate !== undefined) await delayFor(started + ((replayed.length + 1) / options.rate) * 1_000 - Date.now(), io.signal);
        }
        replayed.push(letter);
        if (!output.json) output.line(`${options.dryRun ? 'would replay' : 'replayed'} ${letter.id}  ${letter.topic}  event ${letter.eventId ?? letter.envelope.id}  (consumer ${letter.consumer}, was ${letter.status})`);
        progress.update(replayed.length + skipped.length, letters.length);
      }
      progress.finish({ done: replayed.length, ...(skipped.length > 0 ? { detail: `${skipped.length} skipped` } : {}) });

      if (output.json) {
        output.document({
          schema: options.schema, dryRun: options.dryRun === true,
          replayed: replayed.map((l) => ({ id: l.id, topic: l.topic, consumer: l.consumer, eventId: l.eventId, previousStatus: l.status })),
          skipped,
        });
      } else if (letters.length === 0) {
        output.line(`no pending dead letters match in ${options.schema}; nothing to replay`);
      } else {
        const n = replayed.length;
        output.line(`${options.dryRun ? 'dry run: would replay' : 'replayed'} ${n} dead letter${n === 1 ? '' : 's'} of ${options.schema}${skipped.length ? `, skipped ${skipped.length}` : ''}${options.dryRun ? '; nothing was published or changed' : ''}`);
      }
      if (byId && skipped.length > 0) {
        throw new CommandFailure(`${countOf(skipped.length, ids.length)} not replayed: ${skipped.map((s) => s.id).join(', ')}`);
      }
    }).finally(() => progress.close());
  });
}

function addDiscard(dlq: Command, io: CliIo): void {
  const command = dlq
    .command('discard')
    .description('mark pending dead letters discarded: kept for audit, never replayed (unless replayed by id with --force)')
    .argument('<id...>', 'dead-letter ids')
    .addOption(schemaOption())
    .option('--dry-run', 'print what would be discarded; change nothing');
  addConnectionOptions(command, false);
  addJsonOption(command);
  command.addHelpText('after', '\nExample:\n  datasync dlq discard 42 43 --schema search');
  command.action(async (rawIds: string[], options: DiscardOptions) => {
    const output = new Output(io, options);
    const ids = checkIds(rawIds);
    const url = resolveDatabaseUrl(options.database, io.env);
    await usingConnections(async (connections) => {
      const pool = await connections.database(url);
      await requireMigrated(pool, options.schema, options.dryRun ? DLQ_TABLES : DLQ_ACTION_TABLES);
      const store = new DeadLetterStore(options.schema);
      const letters = await fetchByIds(pool, store, ids);
      const discarded: string[] = [];
      const unchanged: Skipped[] = [];
      let refused = 0;
      for (const letter of letters) {
        if (letter.status === 'discarded') {
          unchanged.push({ id: letter.id, reason: 'already discarded' });
          output.note(`dead letter ${letter.id} was already discarded`);
          continue;
        }
        if (letter.status !== 'pending' || !(options.dryRun || (await discardDeadLetter(pool, store, letter, { actor: cliActor(io.env) })))) {
          const reason = `its status is ${letter.status === 'pending' ? 'no longer pending' : letter.status}; only pending dead letters can be discarded`;
          unchanged.push({ id: letter.id, reason });
          output.note(`datasync: dead letter ${letter.id} not discarded: ${reason}`);
          refused += 1;
          continue;
        }
        discarded.push(letter.id);
        output.line(`${options.dryRun ? 'would discard' : 'discarded'} ${letter.id}  ${letter.topic}  (consumer ${letter.consumer})`);
      }
      if (output.json) output.document({ schema: options.schema, dryRun: options.dryRun === true, discarded, unchanged });
      else if (options.dryRun) output.line(`dry run: would discard ${discarded.length}; nothing was changed`);
      if (refused > 0) throw new CommandFailure(`${countOf(refused, ids.length)} not discarded: ${unchanged.filter((u) => u.reason !== 'already discarded').map((u) => u.id).join(', ')}`);
    });
  });
}

/** `the dead letter asked for was` / `2 of the 3 dead letters asked for were`. */
function countOf(failed: number, asked: number): string {
  if (asked === 1) return 'the dead letter asked for was';
  return `${failed} of the ${asked} dead letters asked for ${failed === 1 ? 'was' : 'were'}`;
}

/** Waits `ms` (nothing when ≤ 0) to pace a rate limit; rejects when `signal` aborts. */
function delayFor(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return ms > 0 ? delay(ms, undefined, { signal }) : Promise.resolve();
}
