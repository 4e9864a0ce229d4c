import { expect, it } from 'vitest';
import { SyncError } from '../../src/core/errors.js';
import { outboxStatus } from '../../src/postgres/outbox-admin.js';
import type { RelayStats } from '../../src/postgres/relay.js';
import { RecordingPublisher, type RelayTestbed, type TestRelay } from './relay-testbed.js';
import type { TestResources } from './resources.js';
import { waitFor } from './servers.js';

/** What the leadership cases need of a relay besides {@link TestRelay}. */
export interface LeadingRelay extends TestRelay {
  readonly isLeader: boolean;
  stats(): RelayStats;
}

/** What a relay shows beyond the fields every relay shows, in the leadership cases. */
export interface LeadershipCaseExtras {
  /** In a standby's stats() (CDC: `phase: 'standby'`). */
  readonly standbyStats?: object;
  /** In outboxStatus() while a leader runs (CDC: its slot is active). */
  readonly leadingStatus?: object;
  /** In outboxStatus() after the leader closed (CDC: its slot is inactive). */
  readonly closedStatus?: object;
  /** In the stats() of a fenced leader's successor, which re-sends what the stale one published but could not mark sent. */
  readonly successorStats?: object;
}

/**
 * Registers the cases of the leadership both relays share (src/postgres/relay-leadership.ts):
 * fail-over to a standby when the leader process dies, a fenced leader standing down, and
 * close() mid-publish. Call inside the relay file's `describe`, with its testbed.
 */
export function leadershipCases<R extends LeadingRelay>(r: TestResources, bed: RelayTestbed<R>, extras: LeadershipCaseExtras = {}): void {
  const { setup, write, relayOf, readyRelayOf, streamIds, drain, spawnChild, childStarted } = bed;

  it('lets a standby take over within 5 s when the leader process dies, with a higher fencing token', async () => {
    const { schema, writer, topics: [topic] } = await setup();
    const child = spawnChild({ schema, mode: 'run' });
    const leader = await childStarted(child);
    expect(leader.isLeader).toBe(true);

    const standby = await relayOf(schema, (await r.transport()).publisher, { instanceId: 'standby' });
    expect(standby.isLeader).toBe(false);
    const first = await write(writer, topic!, [1, 2, 3, 4, 5]);
    await waitFor('the child leader to publish and mark sent', async () => (await outboxStatus(r.pool, schema)).pending === 0, 20_000);
    expect(await streamIds(topic!)).toEqual(first);
    expect(standby.stats()).toMatchObject({ published: 0, isLeader: false, fencingToken: null, ...extras.standbyStats });
    expect(await outboxStatus(r.pool, schema)).toMatchObject({ leader: `child-${child.process.pid}`, ...extras.leadingStatus });

    child.process.kill('SIGKILL');
    await child.exited;
    await waitFor('the standby to take over', () => standby.isLeader, 5_000);

    const second = await write(writer, topic!, [6, 7, 8]);
    await drain(standby, schema);
    expect(await streamIds(topic!)).toEqual([...first, ...second]);
    expect(standby.stats().fencingToken).toBeGreaterThan(leader.fencingToken);
    expect(await outboxStatus(r.pool, schema)).toMatchObject({ leader: 'standby', fencingToken: standby.stats().fencingToken });
  });

  it('stands a fenced leader down: its cursor update affects no row, it publishes no more, and the successor re-sends', async () => {
    const { schema, writer, topics: [topic] } = await setup();
    const publisher = (await r.transport()).publisher;
    const errors: unknown[] = [];
    // Long heartbeat and retry, so the stale token is found by the cursor update after a publish and the relay stays down.
    const stale = await readyRelayOf(schema, publisher, { leaderRetryMs: 60_000, heartbeatIntervalMs: 60_000, hooks: { onError: (e) => errors.push(e) } });
    const [e1] = await write(writer, topic!, [1]);
    await drain(stale, schema);
    const before = await outboxStatus(r.pool, schema);

    await r.pool.query(`UPDATE "${schema}".outbox_relay SET fencing_token = fencing_token + 1`);
    const [e2] = await write(writer, topic!, [2]);
    await waitFor('RELAY_FENCED', () => errors.some((e) => e instanceof SyncError && e.code === 'RELAY_FENCED'), 20_000);
    expect(stale.stats()).toMatchObject({ published: 1, isLeader: false, fencingToken: null });
    expect(await outboxStatus(r.pool, schema)).toMatchObject({ cursor: before.cursor, pending: 1, publishedTotal: 1 });
    expect(await streamIds(topic!)).toEqual([e1, e2]); // e2 reached the broker but was never marked sent

    const [e3] = await write(writer, topic!, [3]);
    const successor = await relayOf(schema, publisher, { instanceId: 'successor' });
    await drain(successor, schema);
    expect(await streamIds(topic!)).toEqual([e1, e2, e2, e3]);
    expect(stale.stats().published).toBe(1);
    expect(successor.stats()).toMatchObject({ published: 2, ...extras.successorStats });
    expect(await outboxStatus(r.pool, schema)).toMatchObject({ leader: 'successor', fencingToken: before.fencingToken + 2, pending: 0 });
  });

  it('close() mid-publish abandons the batch without moving the cursor and releases the lock', async () => {
    const { schema, writer, topics: [topic] } = await setup();
    const stalled = bed.stalledPublisher();
    const relay = await readyRelayOf(schema, stalled);
    const ids = await write(writer, topic!, [1, 2, 3]);
    await waitFor('the publish to start', () => stalled.calls === 1, 20_000);

    await relay.close();
    await relay.close(); // idempotent
    expect(relay.isLeader).toBe(false);
    expect(await outboxStatus(r.pool, schema)).toMatchObject({ pending: 3, cursor: { id: '0' }, ...extras.closedStatus });
    await expect(relay.whenIdle()).rejects.toMatchObject({ code: 'RELAY_CLOSED' });

    const next = new RecordingPublisher();
    const successor = await relayOf(schema, next);
    await drain(successor, schema);
    expect(next.ids()).toEqual(ids);
  });
}
