import { createHash } from 'node:crypto';
import { quoteIdent } from '../../postgres/sql.js';

/** A named statement: `pg` prepares it once per connection. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/** pg_notify and LISTEN reject channel names of 64 bytes or more. */
const MAX_CHANNEL_LENGTH = 63;

/** Short stable tag of a schema, so statement and channel names of two schemas never clash. */
function tagOf(schema: string): string {
  return createHash('sha256').update(schema).digest('hex').slice(0, 10);
}

/**
 * The NOTIFY channel of the transport in `schema` (one for all topics; the payload is the topic):
 * `datasync_transport_<schema>`, or `datasync_transport_<hash>` when that would exceed 63 bytes.
 */
export function transportChannel(schema: string): string {
  const plain = `datasync_transport_${schema}`;
  return plain.length <= MAX_CHANNEL_LENGTH ? plain : `datasync_transport_${tagOf(schema)}`;
}

/**
 * A CTE that makes the statement's own (implicit) transaction commit without waiting for the WAL
 * flush; join it (`FROM async_commit`) so it runs. Used for the subscriber's bookkeeping only
 * (claims, offsets): if PostgreSQL crashes before the flush, the change is lost and the
 * deliveries concerned come again (at-least-once). Publishes commit as the session is configured.
 */
const ASYNC = `async_commit AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true) AS setting)`;

/** Milliseconds parameter `$n` as an interval. */
const ms = (n: number): string => `($${n}::double precision * interval '1 millisecond')`;

/** Every SQL statement of the transport for one schema. */
export function transportStatements(schema: string) {
  const quoted = quoteIdent(schema);
  const log = `${quoted}.topic_log`;
  const offsets = `${quoted}.group_offsets`;
  const claims = `${quoted}.claims`;
  const tag = tagOf(schema);
  const named = (name: string, text: string): Statement => ({ name: `datasync_tp_${tag}_${name}`, text });
  return {
    /**
     * $1 topic, $2 bodies (text[]), $3 metadata (jsonb or null). One statement for the call; ids
     * are taken in the order given (the ORDER BY feeds the insert, whose defaults run per row).
     */
    publish: named('publish', `INSERT INTO ${log} (topic, body, metadata)
      SELECT $1, t.body, $3::jsonb FROM unnest($2::text[]) WITH ORDINALITY AS t(body, n) ORDER BY t.n`),

    /** $1 group, $2 topic: the group's offset row, at the start of the log when new. */
    ensureGroup: named('ensure_group', `INSERT INTO ${offsets} (topic, group_name) VALUES ($2, $1) ON CONFLICT DO NOTHING`),

    /**
     * $1 group, $2 topic, $3 consumer, $4 ids still held: claims of this consumer name that no
     * live delivery stands for (a previous process of the same name, a reply lost), made due now.
     */
    releaseOwn: named('release_own', `WITH ${ASYNC} UPDATE ${claims} SET consumer = NULL, claimed_until = now()
      FROM async_commit WHERE group_name = $1 AND topic = $2 AND consumer = $3 AND NOT (message_id = ANY($4::bigint[]))`),

    /** $1 group, $2 topic, $3 message ids, $4 consumer: claims taken but never handed out, made due now. */
    release: named('release', `WITH ${ASYNC} UPDATE ${claims} SET consumer = NULL, claimed_until = now()
      FROM async_commit WHERE topic = $2 AND message_id = ANY($3::bigint[]) AND group_name = $1 AND consumer = $4`),

    /**
     * $1 group, $2 topic, $3 consumer, $4 batch size, $5 processing timeout (ms), $6 take due claims.
     *
     * One statement, one implicit transaction: (1) when $6, retake claims whose time ran out (a
     * stopped member's, or a nack's delay), attempt + 1, skipping rows other statements hold;
     * (2) lock the group's offset row (members of a group queue here, so no row goes to two),
     * read the next rows after it, committed and below the snapshot's xmin, in (xid, id) order,
     * move the offset to the last one and insert a claim for each. A transaction still open
     * with a lower xid holds every later row back until it ends, so the offset never passes a
     * row that could still commit. `held_back` says committed rows of the topic wait above xmin
     * (read again soon); `grouped` is false when the offset row is missing.
     */
    fetch: named('fetch', `WITH ${ASYNC}, retaken AS (
        UPDATE ${claims} c
        SET consumer = $3, attempt = c.attempt + 1, claimed_until = now() + ${ms(5)}, last_delivered_at = now()
        FROM (
          SELECT d.message_id FROM ${claims} d
          WHERE $6::boolean AND d.group_name = $1 AND d.topic = $2 AND d.claimed_until <= now()
          ORDER BY d.claimed_until LIMIT $4 FOR UPDATE SKIP LOCKED
        ) due
        WHERE c.topic = $2 AND c.message_id = due.message_id AND c.group_name = $1
        RETURNING c.message_id, c.attempt
      ), position AS MATERIALIZED (
        SELECT position_xid, position_id FROM ${offsets} WHERE topic = $2 AND group_name = $1 FOR UPDATE
      ), fresh AS MATERIALIZED (
        SELECT n.id, n.xid FROM position p CROSS JOIN LATERAL (
          SELECT l.id, l.xid FROM ${log} l
          WHERE l.topic = $2 AND (l.xid, l.id) > (p.position_xid, p.position_id) AND l.xid < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY l.xid, l.id
          LIMIT greatest($4 - (SELECT count(*) FROM retaken), 0)
        ) n
      ), moved AS (
        UPDATE ${offsets} o SET position_xid = f.xid, position_id = f.id, updated_at = now()
        FROM (SELECT xid, id FROM fresh ORDER BY xid DESC, id DESC LIMIT 1) f
        WHERE o.topic = $2 AND o.group_name = $1
        RETURNING 1
      ), claimed AS (
        INSERT INTO ${claims} (topic, message_id, group_name, consumer, attempt, claimed_until)
        SELECT $2, f.id, $1, $3, 1, now() + ${ms(5)} FROM fresh f
        -- A claim left by a retired group (its offset row deleted, then re-created at the start)
        -- stays; it is retaken when it lapses instead of failing the whole statement.
        ON CONFLICT DO NOTHING
        RETURNING message_id, attempt
      )
      SELECT h.commit_mode, h.held_back, h.grouped, d.id, d.attempt, d.body, d.metadata
      FROM (
        SELECT (SELECT setting FROM async_commit) AS commit_mode,
          (SELECT xid FROM ${log} WHERE topic = $2 AND xid >= pg_snapshot_xmin(pg_current_snapshot()) ORDER BY xid LIMIT 1) IS NOT NULL AS held_back,
          EXISTS (SELECT 1 FROM position) AS grouped
      ) h
      LEFT JOIN LATERAL (
        SELECT m.message_id::text AS id, m.attempt, m.src, l.body, l.metadata, l.xid
        FROM (SELECT message_id, attempt, 0 AS src FROM retaken UNION ALL SELECT message_id, attempt, 1 FROM claimed) m
        LEFT JOIN ${log} l ON l.id = m.message_id
      ) d ON true
      ORDER BY d.src, d.xid, d.id::bigint`),

    /** $1 group, $2 topic, $3 message ids (bigint[]): settled, never delivered again to the group. */
    ack: named('ack', `WITH ${ASYNC} DELETE FROM ${claims} USING async_commit
      WHERE topic = $2 AND message_id = ANY($3::bigint[]) AND group_name = $1`),

    /** $1 group, $2 topic, $3 message id, $4 consumer, $5 delay (ms): released, due again after the delay. */
    nack: named('nack', `WITH ${ASYNC} UPDATE ${claims} SET consumer = NULL, claimed_until = now() + ${ms(5)}
      FROM async_commit WHERE topic = $2 AND message_id = $3 AND group_name = $1 AND consumer = $4`),

    /**
     * $1 group, $2 topic, $3 message ids, $4 consumer, $5 processing timeout (ms): pushes the claims
     * this consumer still holds forward; returns those ids (the others went to another member).
     */
    keepAlive: named('keep_alive', `WITH ${ASYNC} UPDATE ${claims} SET claimed_until = now() + ${ms(5)}
      FROM async_commit WHERE topic = $2 AND message_id = ANY($3::bigint[]) AND group_name = $1 AND consumer = $4
      RETURNING message_id::text AS id`),

    /**
     * $1 group, $2 topic: the group's lag (no row when the group has no offset row for the topic):
     * log rows after its offset (not taken yet, including committed rows still held back behind
     * an open transaction) plus its claims (taken, not acked) of rows at or before the offset. The
     * second condition counts a claim left by a retired group, whose row lies ahead of the
     * re-created offset, only once.
     */
    lag: named('lag', `SELECT
        (SELECT count(*) FROM ${log} l WHERE l.topic = o.topic AND (l.xid, l.id) > (o.position_xid, o.position_id))
        + (SELECT count(*) FROM ${claims} c LEFT JOIN ${log} l ON l.id = c.message_id
           WHERE c.group_name = o.group_name AND c.topic = o.topic
             AND (l.id IS NULL OR (l.xid, l.id) <= (o.position_xid, o.position_id))) AS lag
      FROM ${offsets} o WHERE o.topic = $2 AND o.group_name = $1`),

    /**
     * $1 lock key, $2 retention (ms), $3 most rows: deletes rows past retention that every group
     * of their topic has passed and no claim holds. One purger per schema at a time (a try-lock).
     */
    purge: named('purge', `WITH lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok),
      doomed AS (
        SELECT l.id FROM ${log} l
        WHERE (SELECT ok FROM lock) AND l.published_at < now() - ${ms(2)}
          AND NOT EXISTS (SELECT 1 FROM ${offsets} o WHERE o.topic = l.topic AND (o.position_xid, o.position_id) < (l.xid, l.id))
          AND NOT EXISTS (SELECT 1 FROM ${claims} c WHERE c.topic = l.topic AND c.message_id = l.id)
        ORDER BY l.published_at LIMIT $3
        FOR UPDATE SKIP LOCKED
      )
      DELETE FROM ${log} l USING doomed d WHERE l.id = d.id`),

    /** $1 channel, $2 topics: wake-ups, committed asynchronously (a lost hint costs nothing: subscribers poll). */
    notify: named('notify', `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, t.topic) FROM unnest($2::text[]) AS t(topic)`),
  };
}

/** The statements of one schema. */
export type TransportStatements = ReturnType<typeof transportStatements>;
