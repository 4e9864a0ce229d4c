import type { Topic } from 'datasync/core';
import { expect, it } from 'vitest';
import { probeEnvelope, publishProbe } from '../../platform/audit/publish.js';
import type { AuditApi, ConsumeProbe, PlatformModule } from '../../platform/host/module.js';
import { catalogModule } from '../../platform/services/catalog/index.js';
import { checkoutModule } from '../../platform/services/checkout/index.js';
import { customerModule } from '../../platform/services/customer/index.js';
import { fulfillmentModule } from '../../platform/services/fulfillment/index.js';
import { locationModule } from '../../platform/services/location/index.js';
import { notificationModule } from '../../platform/services/notification/index.js';
import { orderModule } from '../../platform/services/order/index.js';
import { paymentModule } from '../../platform/services/payment/index.js';
import { pricingModule } from '../../platform/services/pricing/index.js';
import { returnModule } from '../../platform/services/return/index.js';
import { shippingModule } from '../../platform/services/shipping/index.js';
import { warehouseModule } from '../../platform/services/warehouse/index.js';
import { useInProcessPlatform } from '../support/platform-harness.js';
import { describeWithServers, waitFor } from '../support/servers.js';

// The audit probes of Order, Checkout, Payment, Fulfillment, Shipping and Return against the
// real upstream services: the probes create products in Catalog, prices in Pricing, stock in
// Warehouse and customers in Customer through their APIs, Location announces the default
// warehouse, Notification and Warehouse consume what has no subscriber among the six. Each
// probe is run as `datasync audit` runs it (platform/host/module.ts).

type Data = Record<string, unknown>;
const OURS = [orderModule, checkoutModule, paymentModule, fulfillmentModule, shippingModule, returnModule];

describeWithServers(['postgres'], 'the audit probes of the order services, with the real upstream services', () => {
  const platform = useInProcessPlatform('platform_orders_audit', () => [
    catalogModule, pricingModule, warehouseModule, customerModule, locationModule, notificationModule, ...OURS,
  ]);
  const db = () => platform.db();
  const api: AuditApi = { request: async (_service, method, path, body) => ({ ...(await platform.call(method, path, body)), headers: new Headers() }) };
  const running = (): PlatformModule[] => [...platform.platform().services.values()].map(({ module }) => module);

  async function count(sql: string, params: unknown[]): Promise<number> {
    const { rows: [row] } = await db().query<{ n: number }>(`SELECT count(*)::int AS n FROM (${sql}) AS q`, params);
    return row!.n;
  }
  async function processedBy(schema: string, eventId: string): Promise<void> {
    await waitFor(`${schema} to process event ${eventId}`, async () => (await count(`SELECT 1 FROM "${schema}".processed_events WHERE event_id = $1`, [eventId])) === 1, 30_000);
  }
  async function deadLetterOf(schema: string, eventId: string): Promise<{ reason: string; attempts: number }> {
    await waitFor(`a dead letter in ${schema} for ${eventId}`, async () => (await count(`SELECT 1 FROM "${schema}".dead_letters WHERE event_id = $1`, [eventId])) === 1, 20_000);
    const { rows: [row] } = await db().query<{ reason: string; attempts: number }>(`SELECT reason, attempts FROM "${schema}".dead_letters WHERE event_id = $1`, [eventId]);
    return row!;
  }

  for (const module of OURS) {
    it(`${module.name}: the produce probe's change is in the outbox and a subscriber consumes it`, async () => {
      const { topic, key } = await module.audit!.produce!.run(api);
      const { rows } = await db().query<{ event_id: string }>(
        `SELECT event_id FROM "${module.name}".outbox WHERE topic = $1 AND partition_key = $2 ORDER BY id DESC LIMIT 1`, [topic.name, key],
      );
      expect(rows, `an outbox row on ${topic.name} keyed ${key}`).toHaveLength(1);
      const subscribers = running().filter((m) => topic.subscribers.includes(m.name)).map((m) => m.name);
      expect(subscribers.length, `a running subscriber of ${topic.name}`).toBeGreaterThan(0);
      await Promise.any(subscribers.map((name) => processedBy(name, rows[0]!.event_id)));
    }, 90_000);

    it(`${module.name}: the consume probe's event applies once, a duplicate changes nothing, invalid and failing ones are dead-lettered`, async () => {
      const probe = module.audit!.consume! as ConsumeProbe<Data>;
      const topic = probe.topic as Topic<unknown>;
      const publisher = platform.transport().publisher;
      const data = await probe.valid(api);
      expect(await probe.effects(db(), data)).toBe(0);
      const event = probeEnvelope(topic, data);
      await publishProbe(publisher, topic, event);
      await processedBy(module.name, event.id);
      expect(await probe.effects(db(), data)).toBe(1);
      await publishProbe(publisher, topic, event);

      const broken: Data = { ...data };
      delete broken[(topic.schema as { required: string[] }).required.at(-1)!];
      const invalid = probeEnvelope(topic, broken);
      await publishProbe(publisher, topic, invalid);
      expect(await deadLetterOf(module.name, invalid.id)).toEqual({ reason: 'schema_invalid', attempts: 1 });

      const failing = probeEnvelope(topic, await probe.failing(api));
      await publishProbe(publisher, topic, failing);
      expect((await deadLetterOf(module.name, failing.id)).reason).toMatch(/^(permanent|retries_exhausted)$/);
      expect(await probe.effects(db(), data)).toBe(1);
    }, 90_000);
  }

  it('answered no request with a 500', () => {
    expect(platform.errors.filter((error) => error.startsWith('HTTP'))).toEqual([]);
  });
});
