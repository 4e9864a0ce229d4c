import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { listDeadLetters } from '../../src/admin/dead-letter-view.js';
import { PermanentError } from '../../src/core/errors.js';
import { replayDeadLetter } from '../../src/postgres/dead-letter-replay.js';
import { DeadLetterStore, type DeadLetter, type NewDeadLetter } from '../../src/postgres/dead-letter-store.js';
import { DATASYNC_MIGRATIONS, migrate } from '../../src/postgres/migrations.js';
import { outboxStatus } from '../../src/postgres/outbox-admin.js';
import { OutboxWriter } from '../../src/postgres/outbox-writer.js';
import { startRelay } from '../../src/postgres/relay.js';
import { inTransaction } from '../../src/postgres/sql.js';
import { startConsumer } from '../../src/runtime/consumer.js';
import { createPostgresTransport } from '../../src/transports/postgres/index.js';
import { effectService, itemEvent, itemTopic } from '../support/pipeline.js';
import { runCli as datasync } from '../support/cli.js';
import { useTestResources } from '../support/resources.js';
import { POSTGRES_URL, describeWithServers, uniqueName, waitFor } from '../support/servers.js';

/** What one run of the command left behind. */

/** Runs a `--json` command that must succeed and returns its one JSON document. */
async function datasyncJson<T>(args: readonly string[]): Promise<T> {
  const result = await datasync([...args, '--json']);
  expect(result.code, `datasync ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout) as T;
}

describeWithServers(['postgres', 'redis'], 'datasync command against PostgreSQL and Redis', () => {
  const r = useTestResources({ poolMax: 6 });

  async function letterOf(schema: string, id: string): Promise<DeadLetter> {
    return new DeadLetterStore(schema).get(r.pool, id);
  }

  async function effectCount(schema: string): Promise<number> {
    return (await r.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".effects`)).rows[0]!.n;
  }

  /** Records a dead letter directly, as the consumer's dead-letter step would. */
  async function recordLetter(schema: string, letter: Partial<NewDeadLetter> & Pick<NewDeadLetter, 'topic' | 'consumer'>): Promise<string> {
    const failedAt = letter.lastFailedAt ?? new Date();
    const envelope = letter.envelope === undefined ? itemEvent(letter.topic, 'owner', { id: 'k', seq: 1 }) : letter.envelope;
    return new DeadLetterStore(schema).record(r.pool, {
      eventId: envelope?.id ?? null, partitionKey: 'k', envelope, rawBody: envelope ? null : '{"id": "not json', reason: envelope ? 'permanent' : 'malformed',
      errorClass: 'Error', errorCode: null, errorMessage: 'boom', attempts: 1, firstFailedAt: failedAt, lastFailedAt: failedAt, ...letter,
    });
  }

  it('dlq replay: the running consumer applies the replayed event once; replaying it again changes nothing; --dry-run changes nothing', async () => {
    const topic = r.topic();
    const owner = uniqueName('o');
    const name = r.schema('c');
    let failing = true;
    const service = effectService(name, itemTopic(topic, owner, [name]), async () => {
      if (failing) throw new PermanentError('search index is read-only');
    });
    const event = itemEvent(topic, owner, { id: 'p1', seq: 1 });
    // Outcomes per settlement, in order: the same event id settles three times here.
    const outcomes: string[] = [];
    const t = await r.transport();
    const consumer = await startConsumer(service, { pool: r.pool, transport: t, hooks: { onSettled: (info) => { if (info.event?.id === event.id) outcomes.push(info.outcome); } } });
    r.defer(() => consumer.close());
    await t.publisher.publish(topic, [event]);
    await waitFor('the event to be dead-lettered', () => outcomes.length === 1);
    expect(outcomes).toEqual(['dead_lettered']);
    const [letter] = await new DeadLetterStore(name).list(r.pool, {});
    expect(letter).toMatchObject({ eventId: event.id, status: 'pending', reason: 'permanent' });
    const id = letter!.id;
    failing = false;
    const streamLength = await r.redis.xlen(topic);

    const dry = await datasyncJson<{ dryRun: boolean; replayed: { id: string }[] }>(['dlq', 'replay', id, '--schema', name, '--dry-run']);
    expect(dry).toMatchObject({ dryRun: true, replayed: [{ id }], skipped: [] });
    expect(await letterOf(name, id)).toMatchObject({ status: 'pending', replayCount: 0 });
    expect(await r.redis.xlen(topic)).toBe(streamLength);
    expect(await effectCount(name)).toBe(0);

    const first = await datasync(['dlq', 'replay', id, '--schema', name]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`replayed ${id}  ${topic}  event ${event.id}`);
    await waitFor('the replayed event to be settled', () => outcomes.length === 2);
    expect(outcomes).toEqual(['dead_lettered', 'applied']);
    expect(await effectCount(name)).toBe(1);
    expect(await letterOf(name, id)).toMatchObject({ status: 'replayed', replayCount: 1 });
    expect(await r.redis.xlen(topic)).toBe(streamLength + 1);
    const [[, fields]] = (await r.redis.xrevrange(topic, '+', '-', 'COUNT', 1)) as [[string, string[]]];
    const republished = JSON.parse(fields[fields.indexOf('data') + 1]!) as Record<string, unknown>;
    expect(republished).toMatchObject({ id: event.id, data: event.data });
    expect(Object.keys(republished).filter((key) => key.startsWith('dlq'))).toEqual([]);

    const second = await datasync(['dlq', 'replay', id, '--schema', name]);
    expect(second.code, second.stderr).toBe(0);
    await waitFor('the second replay to be settled', () => outcomes.length === 3);
    expect(outcomes).toEqual(['dead_lettered', 'applied', 'duplicate']);
    expect(await effectCount(name)).toBe(1);
    expect(await letterOf(name, id)).toMatchObject({ status: 'replayed', replayCount: 2 });
    expect(consumer.stats()).toMatchObject({ applied: 1, duplicate: 1, dead_lettered: 1 });
  });

  it('dlq list --json filters by topic, error text and time; dlq show prints the envelope or raw body; an unknown id is DEAD_LETTER_NOT_FOUND', async () => {
    const schema = r.schema('d');
    await migrate(r.pool, schema);
    const [orders, stock] = [r.topic(), r.topic()];
    const threeHoursAgo = new Date(Date.now() - 3 * 3_600_000);
    const old = await recordLetter(schema, { topic: orders, consumer: 'search', errorMessage: 'timeout talking to the index', lastFailedAt: threeHoursAgo, firstFailedAt: threeHoursAgo });
    const recent = await recordLetter(schema, { topic: orders, consumer: 'search', errorMessage: 'constraint violation' });
    const other = await recordLetter(schema, { topic: stock, consumer: 'analytics', errorClass: 'TypeError', errorMessage: 'Timeout again' });
    const malformed = await recordLetter(schema, { topic: stock, consumer: 'analytics', envelope: null, errorClass: 'MalformedEnvelopeError', errorCode: 'ENVELOPE_MALFORMED', errorMessage: 'the message data is not JSON' });

    type Listed = { deadLetters: { id: string; replayable: boolean; envelope?: unknown }[] };
    const ids = async (...filters: string[]): Promise<string[]> =>
      (await datasyncJson<Listed>(['dlq', 'list', '--schema', schema, ...filters])).deadLetters.map((l) => l.id);
    expect(await ids()).toEqual([old, recent, other, malformed]);
    expect(await ids('--topic', orders)).toEqual([old, recent]);
    expect(await ids('--error', 'TIMEOUT')).toEqual([old, other]);
    expect(await ids('--error', 'typeerror')).toEqual([other]);
    expect(await ids('--since', '1h')).toEqual([recent, other, malformed]);
    expect(await ids('--topic', stock, '--error', 'timeout', '--since', '1h')).toEqual([other]);
    expect(await ids('--consumer', 'analytics', '--limit', '1')).toEqual([other]);
    const listed = await datasyncJson<Listed>(['dlq', 'list', '--schema', schema, '--topic', stock]);
    expect(listed.deadLetters.map((l) => [l.replayable, 'envelope' in l])).toEqual([[true, false], [false, false]]);

    const table = await datasync(['dlq', 'list', '--schema', schema, '--topic', orders]);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+TOPIC\s+CONSUMER\s+REASON\s+ERROR\s+ATTEMPTS\s+FIRST FAILED\s+LAST FAILED\s+STATUS$/);
    expect(table.stdout).toContain('Error: timeout talking to the index');
    expect(table.stdout).not.toContain('\u001b[');

    const shown = await datasyncJson<DeadLetter>(['dlq', 'show', recent, '--schema', schema]);
    expect(shown).toMatchObject({ id: recent, topic: orders, consumer: 'search', errorMessage: 'constraint violation', status: 'pending' });
    expect(shown.envelope).toMatchObject({ topic: orders, data: { id: 'k', seq: 1 } });
    const text = await datasync(['dlq', 'show', malformed, '--schema', schema]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('raw body (not a CloudEvent, so it cannot be replayed):\n{"id": "not json');
    expect(text.stdout).toMatch(/error code\s+ENVELOPE_MALFORMED/);

    const missing = await datasync(['dlq', 'show', '987654321', '--schema', schema]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr.trim()).toBe(`datasync: dead letter 987654321 not found in ${schema}.dead_letters (DEAD_LETTER_NOT_FOUND)`);
  });

  it('dlq discard, then dlq replay of it is refused without --force; a dead letter without an envelope is skipped; a filtered replay takes pending ones only', async () => {
    const schema = r.schema('d');
    await migrate(r.pool, schema);
    const topic = r.topic();
    const kept = await recordLetter(schema, { topic, consumer: 'search' });
    const malformed = await recordLetter(schema, { topic, consumer: 'search', envelope: null });

    const dry = await datasync(['dlq', 'discard', kept, '--schema', schema, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`would discard ${kept}`);
    expect((await letterOf(schema, kept)).status).toBe('pending');
    expect(await datasyncJson(['dlq', 'discard', kept, '--schema', schema])).toEqual({ schema, dryRun: false, discarded: [kept], unchanged: [] });
    expect((await letterOf(schema, kept)).status).toBe('discarded');

    const refused = await datasync(['dlq', 'replay', kept, '--schema', schema]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`dead letter ${kept} skipped: it was discarded; add --force`);
    expect((await letterOf(schema, kept)).status).toBe('discarded');
    expect(await r.redis.xlen(topic)).toBe(0);

    const forced = await datasync(['dlq', 'replay', kept, '--schema', schema, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await letterOf(schema, kept)).toMatchObject({ status: 'replayed', replayCount: 1 });
    expect(await r.redis.xlen(topic)).toBe(1);

    const raw = await datasync(['dlq', 'replay', malformed, '--schema', schema]);
    expect(raw.code).toBe(1);
    expect(raw.stderr).toContain(`dead letter ${malformed} skipped: it has no envelope`);
    expect((await letterOf(schema, malformed)).status).toBe('pending');

    const notPending = await datasync(['dlq', 'discard', kept, '--schema', schema]);
    expect(notPending.code).toBe(1);
    expect(notPending.stderr).toContain('only pending dead letters can be discarded');

    const fresh = await recordLetter(schema, { topic, consumer: 'search', errorMessage: 'late failure' });
    const filtered = await datasyncJson<{ replayed: { id: string }[]; skipped: { id: string }[] }>(['dlq', 'replay', '--schema', schema, '--topic', topic]);
    expect(filtered.replayed.map((l) => l.id)).toEqual([fresh]);
    expect(filtered.skipped.map((l) => l.id)).toEqual([malformed]);
    expect(await r.redis.xlen(topic)).toBe(2);
    expect((await letterOf(schema, kept)).replayCount).toBe(1);
  });

  it('newest first is by the last failure: a per-schema limit keeps an old letter that failed again just now', async () => {
    const [schema, other] = [r.schema('d'), r.schema('d')];
    await migrate(r.pool, schema);
    await migrate(r.pool, other);
    const topic = r.topic();
    const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);
    const poison = itemEvent(topic, 'owner', { id: 'poison', seq: 1 });
    const again = await recordLetter(schema, { topic, consumer: 'search', envelope: poison, firstFailedAt: minutesAgo(60), lastFailedAt: minutesAgo(60) });
    const later: string[] = [];
    for (let i = 0; i < 3; i++) later.push(await recordLetter(schema, { topic, consumer: 'search', envelope: itemEvent(topic, 'owner', { id: `k${i}`, seq: 1 }), lastFailedAt: minutesAgo(30 - i) }));
    const elsewhere = await recordLetter(other, { topic, consumer: 'search', lastFailedAt: minutesAgo(5) });
    // the poison message is delivered and fails again: its pending row (the lowest id) is updated
    expect(await recordLetter(schema, { topic, consumer: 'search', envelope: poison, firstFailedAt: minutesAgo(1), lastFailedAt: minutesAgo(1) })).toBe(again);

    const store = new DeadLetterStore(schema);
    expect((await store.list(r.pool, { newestFirst: true, limit: 2 })).map((l) => l.id)).toEqual([again, later[2]]);
    expect((await store.list(r.pool, { limit: 2 })).map((l) => l.id)).toEqual([again, later[0]]); // oldest id first without it
    const listed = await listDeadLetters(r.pool, [schema, other], { status: 'pending', limit: 2 }, () => undefined);
    expect(listed.map((e) => [e.schema, e.id])).toEqual([[schema, again], [other, elsewhere]]);
  });

  it('a replay whose broker does not acknowledge in time fails with SERVER_UNREACHABLE and changes nothing; it goes through once the broker answers', async () => {
    const [schema, transportSchema] = [r.schema('d'), r.schema('t')];
    await migrate(r.pool, schema);
    const transport = await createPostgresTransport({ connectionString: POSTGRES_URL, schema: transportSchema, poolSize: 2 });
    r.defer(() => transport.close());
    const topic = r.topic();
    const store = new DeadLetterStore(schema);
    const id = await recordLetter(schema, { topic, consumer: 'search' });
    const letter = await store.get(r.pool, id);
    const replay = () => replayDeadLetter(r.pool, store, transport.publisher, { ...letter, envelope: letter.envelope! }, { actor: 'test', publishTimeoutMs: 200 });

    // the broker is stuck: its log table is locked, so the publish waits
    const locker = await r.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${transportSchema}".topic_log IN ACCESS EXCLUSIVE MODE`);
      await expect(replay()).rejects.toMatchObject({
        code: 'SERVER_UNREACHABLE',
        message: expect.stringContaining(`dead letter ${id} of ${schema} was not replayed: the broker did not acknowledge its event on ${topic} within 0.2 s`) as unknown,
      });
      // the row lock was released with the connection: the letter can be locked (and is unchanged)
      expect(await letterOf(schema, id)).toMatchObject({ status: 'pending', replayCount: 0 });
      expect((await r.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".audit_log`)).rows[0]!.n).toBe(0);
      expect(await inTransaction(r.pool, (tx) => store.lockForReplay(tx, id))).toBe('pending');
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    await expect(replay()).resolves.toBeUndefined();
    expect(await letterOf(schema, id)).toMatchObject({ status: 'replayed', replayCount: 1 });
  });

  it('dlq replay of 30 dead letters: progress on stderr ends with "replayed 30/30"; stdout and --json are unchanged by it; --quiet silences it', async () => {
    const schema = r.schema('d');
    await migrate(r.pool, schema);
    const topic = r.topic();
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await recordLetter(schema, { topic, consumer: 'search', envelope: itemEvent(topic, 'owner', { id: `k${i}`, seq: 1 }) }));
    for (let i = 0; i < 12; i++) await recordLetter(schema, { topic, consumer: 'analytics', envelope: itemEvent(topic, 'owner', { id: `m${i}`, seq: 1 }) });

    const dry = await datasync(['dlq', 'replay', '--schema', schema, '--topic', topic, '--consumer', 'search', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toMatch(/^dry run: would replay 30\/30 dead letters in \d+(\.\d)? s\n$/);
    expect(dry.stdout.trimEnd().split('\n')).toHaveLength(31); // a line per letter and the summary, no progress

    const replay = await datasync(['dlq', 'replay', '--schema', schema, '--topic', topic, '--consumer', 'search', '--json']);
    expect(replay.code, replay.stderr).toBe(0);
    // not a terminal: no \r rewriting; a line at most every 2 s, and always the closing one
    const lines = replay.stderr.trimEnd().split('\n');
    expect(replay.stderr).not.toContain('\r');
    expect(lines.at(-1)).toMatch(/^replayed 30\/30 dead letters in \d+(\.\d)? s$/);
    for (const line of lines.slice(0, -1)) expect(line).toMatch(/^replaying dead letters {2}\d+\/30 {2}\d+%/);
    const document = JSON.parse(replay.stdout) as { replayed: { id: string }[]; skipped: unknown[] };
    expect(document.replayed.map((l) => l.id).sort()).toEqual([...ids].sort());
    expect(document.skipped).toEqual([]);
    expect(await r.redis.xlen(topic)).toBe(30);

    const quiet = await datasync(['dlq', 'replay', '--schema', schema, '--consumer', 'analytics', '--quiet']);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toContain(`replayed 12 dead letters of ${schema}`);
    expect(await r.redis.xlen(topic)).toBe(42);
  });

  it('migrate applies datasync\'s tables to each schema, and a second run says up to date; an unmigrated schema is named with the fix', async () => {
    const [a, b] = [r.schema('m'), r.schema('m')];
    const first = await datasync(['migrate', '--schema', `${a},${b}`]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(`${a}: applied datasync_0001_outbox, datasync_0002_processed_events, datasync_0003_dead_letters, datasync_0004_audit_log\n${b}: applied datasync_0001_outbox, datasync_0002_processed_events, datasync_0003_dead_letters, datasync_0004_audit_log\n`);
    // progress on stderr (not a terminal here): a timed line per schema, then the closing line
    const n = DATASYNC_MIGRATIONS.length;
    expect(first.stderr).toMatch(new RegExp(`^${a}: ${n} migrations applied in \\d+ ms\n${b}: ${n} migrations applied in \\d+ ms\nmigrated 2/2 schemas in \\d+\\.\\d s\n$`));
    const second = await datasync(['migrate', '--schema', `${a},${b}`]);
    expect(second.stdout).toBe(`${a}: up to date\n${b}: up to date\n`);
    expect(second.stderr).toMatch(new RegExp(`^${a}: up to date, checked in \\d+ ms\n`));
    const quiet = await datasync(['migrate', '--schema', `${a},${b}`, '--quiet']);
    expect([quiet.code, quiet.stdout, quiet.stderr]).toEqual([0, `${a}: up to date\n${b}: up to date\n`, '']);
    expect(await datasyncJson(['migrate', '--schema', a])).toEqual({ schemas: [{ schema: a, applied: [] }] });

    const missing = uniqueName('none');
    const unmigrated = await datasync(['dlq', 'list', '--schema', missing]);
    expect(unmigrated.code).toBe(1);
    expect(unmigrated.stderr.trim()).toBe(`datasync: schema "${missing}" does not exist. Create datasync's tables with: datasync migrate --schema ${missing} (SCHEMA_NOT_MIGRATED)`);
    const empty = r.schema('e');
    await r.pool.query(`CREATE SCHEMA "${empty}"`);
    const noTables = await datasync(['outbox', 'status', '--schema', empty]);
    expect(noTables.code).toBe(1);
    expect(noTables.stderr).toContain(`schema "${empty}" has no datasync table outbox, outbox_relay. Create datasync's tables with: datasync migrate --schema ${empty}`);
  });

  it('outbox status --json shows the rows written while no relay runs as pending', async () => {
    const owner = r.schema('o');
    await migrate(r.pool, owner);
    const topic = itemTopic(r.topic(), owner, []);
    await inTransaction(r.pool, (tx) => new OutboxWriter({ service: owner }).publishMany(tx, topic, [1, 2, 3].map((seq) => ({ data: { id: 'a', seq } }))));
    const status = await datasyncJson<Record<string, unknown>>(['outbox', 'status', '--schema', owner]);
    expect(status).toMatchObject({ schema: owner, pending: 3, leader: null, fencingToken: 0, publishedTotal: 0, cursor: { xid: '0', id: '0' } });
    expect(status.oldestPendingAgeSeconds).toEqual(expect.any(Number));
    const text = await datasync(['outbox', 'status', '--schema', owner]);
    expect(text.stdout).toMatch(/^pending\s+3$/m);
  });

  it('outbox replay --dry-run counts the sent rows of the range and topic; without it they are published again (XLEN grows)', async () => {
    const owner = r.schema('o');
    await migrate(r.pool, owner);
    const [wanted, other] = [itemTopic(r.topic(), owner, []), itemTopic(r.topic(), owner, [])];
    const writer = new OutboxWriter({ service: owner });
    await inTransaction(r.pool, async (tx) => {
      await writer.publishMany(tx, wanted, [1, 2, 3, 4, 5].map((seq) => ({ data: { id: 'w', seq } })));
      await writer.publishMany(tx, other, [1, 2].map((seq) => ({ data: { id: 'x', seq } })));
    });
    const t = await r.transport();
    const relay = await startRelay({ connectionString: POSTGRES_URL, schema: owner, publisher: t.publisher, pollIntervalMs: 100 });
    r.defer(() => relay.close());
    for (let i = 0; (await outboxStatus(r.pool, owner)).pending > 0; i++) {
      if (i > 600) throw new Error('the relay did not send the rows within 60 s');
      await sleep(100);
    }
    await relay.close();
    expect([await r.redis.xlen(wanted.name), await r.redis.xlen(other.name)]).toEqual([5, 2]);

    const dry = await datasyncJson(['outbox', 'replay', '--schema', owner, '--since', '10m', '--topic', wanted.name, '--dry-run']);
    expect(dry).toMatchObject({ schema: owner, topic: wanted.name, dryRun: true, matched: 5, published: 0, until: null });
    expect(await r.redis.xlen(wanted.name)).toBe(5);
    const future = await datasyncJson(['outbox', 'replay', '--schema', owner, '--since', new Date(Date.now() + 3_600_000).toISOString(), '--dry-run']);
    expect(future).toMatchObject({ matched: 0 });

    const replay = await datasync(['outbox', 'replay', '--schema', owner, '--since', '10m', '--topic', wanted.name]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain(`re-published 5 of 5 sent events of ${owner}.outbox`);
    expect([await r.redis.xlen(wanted.name), await r.redis.xlen(other.name)]).toEqual([10, 2]);
    expect(await datasyncJson(['outbox', 'replay', '--schema', owner, '--since', '10m', '--rate', '1000'])).toMatchObject({ matched: 7, published: 7 });
    expect([await r.redis.xlen(wanted.name), await r.redis.xlen(other.name)]).toEqual([15, 4]);
  });

  it('an unreachable PostgreSQL is one line naming it and its address: exit 3', async () => {
    const result = await datasync(['dlq', 'list', '--schema', 'anything', '--database', 'postgres://postgres@127.0.0.1:1/postgres']);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^datasync: PostgreSQL did not answer at 127\.0\.0\.1:1\/postgres: .*Is it running, and is the address right\?\n$/);
  });

  it('an unreachable Redis is one line naming it and its address: exit 3, and nothing is published', async () => {
    const owner = r.schema('o');
    await migrate(r.pool, owner);
    const result = await datasync(['outbox', 'replay', '--schema', owner, '--since', '1h', '--transport', 'redis://127.0.0.1:1']);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^datasync: Redis did not answer at 127\.0\.0\.1:1\b.*Is it running, and is the address right\?\n$/);
    const dlq = await datasync(['dlq', 'replay', '--schema', owner, '--all', '--transport', 'redis://127.0.0.1:1']);
    expect(dlq.code).toBe(3);
  });
});
