import { InvalidArgumentError, Option, type Command } from 'commander';

/**
 * Parsers for option values, used as commander `argParser`s: each returns the parsed
 * value or throws commander's `InvalidArgumentError` saying what is expected, which
 * commander reports as `option '--since <time>' argument 'x' is invalid. <expected>`
 * (exit code 2, see program.ts).
 */

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const SCHEMA_EXPECTED = 'expected a lower-case SQL identifier: letters, digits and _ (at most 63), not starting with a digit';

/** What `--since`/`--until` accept, for messages and help. */
export const TIME_FORMS = 'an ISO 8601 time (2026-11-24T10:00:00Z, 2026-11-24) or a duration ago (30s, 15m, 2h, 7d, 2w)';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const RELATIVE = /^(\d+)(s|m|h|d|w)$/;
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Parses `--since`/`--until`: an ISO 8601 date (`2026-11-24`, midnight UTC), date-time
 * (`2026-11-24T10:00:00Z`; without an offset it is local time), or a duration ago
 * (`15m`, `2h`, `7d`: that long before `nowMs`).
 */
export function parseTime(value: string, nowMs: number = Date.now()): Date {
  const trimmed = value.trim();
  const relative = RELATIVE.exec(trimmed);
  if (relative) return new Date(nowMs - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS]);
  const dateOnly = DATE_ONLY.exec(trimmed);
  const dateTime = DATE_TIME.exec(trimmed);
  const parts = dateOnly ?? dateTime;
  if (parts) {
    const [, year, month, day] = parts;
    const hour = Number(dateTime?.[4] ?? 0);
    const minute = Number(dateTime?.[5] ?? 0);
    const second = Number(dateTime?.[6] ?? 0);
    const time = new Date(dateOnly ? `${trimmed}T00:00:00Z` : trimmed.replace(' ', 'T'));
    // Date accepts 2026-02-30 (as March 2); a calendar check refuses it.
    const calendar = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
    const realDay = calendar.getUTCFullYear() === Number(year) && calendar.getUTCMonth() === Number(month) - 1 && calendar.getUTCDate() === Number(day);
    if (realDay && hour < 24 && minute < 60 && second < 60 && !Number.isNaN(time.getTime())) return time;
  }
  throw new InvalidArgumentError(`Expected ${TIME_FORMS}.`);
}

/** Parses a whole number ≥ 1 (`--limit`). */
export function parsePositiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('Expected a whole number of at least 1.');
  return n;
}

/** Parses a number > 0 (`--rate`, events per second). */
export function parsePositiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('Expected a number greater than 0, e.g. 50 or 0.5.');
  return n;
}

/** Parses one schema name (`--schema orders`). */
export function parseSchemaName(value: string): string {
  if (!SCHEMA_NAME.test(value)) throw new InvalidArgumentError(`${capitalize(SCHEMA_EXPECTED)}.`);
  return value;
}

/** Parses a comma-separated list of schema names (`--schema orders,search`), without duplicates. */
export function parseSchemaList(value: string): string[] {
  const names = value.split(',').map((name) => name.trim());
  const bad = names.find((name) => !SCHEMA_NAME.test(name));
  if (bad !== undefined) {
    throw new InvalidArgumentError(`${JSON.stringify(bad)} is not a schema name: ${SCHEMA_EXPECTED}; separate several with commas (orders,search).`);
  }
  return [...new Set(names)];
}

/** The `--schema` option every command except `migrate` requires. */
export function schemaOption(): Option {
  return new Option('--schema <name>', 'the service schema holding datasync\'s tables').argParser(parseSchemaName).makeOptionMandatory();
}

/** Adds `--database`, and `--transport` when the command publishes. */
export function addConnectionOptions(command: Command, publishes: boolean): Command {
  command.option('--database <url>', 'PostgreSQL URL (default: $DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres)');
  if (publishes) command.option('--transport <url>', 'where to publish: postgres, or a redis://, nats://, amqp:// or postgres:// URL (default: $DATASYNC_TRANSPORT, else postgres on --database)');
  return command;
}

/** Adds `--json`: one JSON document on stdout and nothing else there. */
export function addJsonOption(command: Command): Command {
  return command.option('--json', 'print one JSON document on stdout (messages and progress go to stderr)');
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * A filter value that must not be empty: an empty `--topic "$UNSET"` would otherwise
 * read as a filter and select everything.
 */
export function parseNonEmpty(option: string, value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError(`Expected a non-empty value for ${option} (leave the option out to not filter on it).`);
  return value;
}
