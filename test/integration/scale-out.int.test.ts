import { describe, expect, it } from 'vitest';
import { connectTransport } from '../../src/transports/connect.js';
import { itemEvent, uniqueTopicName } from '../support/pipeline.js';
import { startFixture, type FixtureProcess } from '../support/child-process.js';
import { useTestResources } from '../support/resources.js';
import { NATS_URL, REDIS_URL, describeWithServers, uniqueName, waitFor } from '../support/servers.js';

const CHILD = 'test/integration/fixtures/scale-consumer-child.ts';
const OWNER = 'scaleowner';
const EVENTS = 3_000;
const KEYS = 60;

/**
 * Scaling out (DESIGN.md section 4): more consumer instances in one group share the work.
 * Three member processes consume one topic; one is SIGKILLed mid-stream; the survivors take
 * over what it held. Every event is applied exactly once, and every member did some of it.
 */
function describeScaleOut(server: 'redis' | 'nats', transportSpec: string): void {
  describeWithServers(['postgres', server], `scale-out over ${server}`, () => {
    const r = useTestResources({ poolMax: 4 });

    it(`three member processes share ${EVENTS} events; one is killed mid-stream; each event is applied exactly once`, async () => {
      const service = uniqueName('scale');
      const topic = uniqueTopicName();
      r.defer(async () => { await r.pool.query(`DROP SCHEMA IF EXISTS "${service}" CASCADE`); });
      const members: FixtureProcess[] = ['a', 'b', 'c'].map((instance) =>
        startFixture(CHILD, { service, topic, owner: OWNER, instance, transport: transportSpec, processingTimeoutMs: 1_000 }),
      );
      r.defer(async () => {
        for (const member of members) member.process.kill('SIGTERM');
        await Promise.race([Promise.all(members.map((m) => m.exited)), new Promise((resolve) => setTimeout(resolve, 10_000))]);
        for (const member of members) member.process.kill('SIGKILL');
      });
      await Promise.all(members.map((member) => member.line(/^READY$/)));

      const transport = await connectTransport(transportSpec);
      r.defer(() => transport.close());
      const events = Array.from({ length: EVENTS }, (_, seq) => itemEvent(topic, OWNER, { id: `k${seq % KEYS}`, seq }));
      for (let i = 0; i < events.length; i += 100) await transport.publisher.publish(topic, events.slice(i, i + 100));

      const applied = async (): Promise<number> => Number((await r.pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${service}".scale_effects`)).rows[0]!.n);
      await waitFor('a third of the events applied', async () => (await applied()) >= EVENTS / 3, 60_000);
      const [victim] = members;
      victim!.process.kill('SIGKILL');
      await victim!.exited;
      const appliedAtKill = await applied();

      await waitFor(`all ${EVENTS} events applied by the survivors`, async () => (await applied()) >= EVENTS, 60_000);
      // Let late redeliveries of what the victim held (after the 1 s processing timeout) land, if any would double.
      await new Promise((resolve) => setTimeout(resolve, 2_500));

      const { rows } = await r.pool.query<{ instance: string; n: string; distinct_events: string }>(
        `SELECT instance, count(*) AS n, count(DISTINCT event_id) AS distinct_events FROM "${service}".scale_effects GROUP BY instance ORDER BY instance`,
      );
      const total = rows.reduce((sum, row) => sum + Number(row.n), 0);
      const distinct = Number((await r.pool.query<{ n: string }>(`SELECT count(DISTINCT event_id) AS n FROM "${service}".scale_effects`)).rows[0]!.n);
      expect(distinct).toBe(EVENTS); // nothing lost
      expect(total).toBe(EVENTS); // nothing applied twice
      expect(rows.map((row) => row.instance)).toEqual(['a', 'b', 'c']); // every member did part of the work
      expect(appliedAtKill).toBeLessThan(EVENTS); // the kill came mid-stream
      const expected = new Set(events.map((e) => e.id));
      const seen = (await r.pool.query<{ event_id: string }>(`SELECT event_id FROM "${service}".scale_effects`)).rows.map((row) => row.event_id);
      expect(new Set(seen)).toEqual(expected);
    }, 150_000);
  });
}

describe('scaling out', () => {
  describeScaleOut('redis', REDIS_URL);
  describeScaleOut('nats', NATS_URL);
});
