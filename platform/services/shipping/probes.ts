import { randomUUID } from 'node:crypto';
import type { AuditApi, ConsumeProbe, ModuleAudit } from '../../host/module.js';
import { packageStatusChanged, type PackageStatusChanged } from '../../contracts/fulfillment.js';
import { shipmentStatusChanged } from '../../contracts/shipping.js';
import { probeFulfillment } from '../fulfillment/probes.js';
import { expectStatus, PROBE_SHIP_TO } from '../order/probes.js';
import { pollUntil } from '../../audit/poll.js';
import type { ShipmentView } from './shipments.js';

/** `datasync audit`'s probes of Shipping. */

function handedOver(weightGrams: number): PackageStatusChanged {
  return {
    id: randomUUID(), fulfillmentId: randomUUID(), orderId: randomUUID(), warehouseId: '00000000-0000-4000-8000-000000000001', status: 'handed-over',
    weightGrams, dimensionsMm: { length: 300, width: 200, height: 150 }, shipTo: PROBE_SHIP_TO, version: 2, changedAt: new Date().toISOString(),
  };
}

const consumePackage: ConsumeProbe<PackageStatusChanged> = {
  topic: packageStatusChanged,
  // a package handed to the carrier: Shipping books a shipment for it
  valid: async () => handedOver(1_000),
  // a 40 kg parcel no carrier takes: dead-lettered
  failing: async () => handedOver(40_000),
  effects: async (db, data) => {
    const { rows: [row] } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM shipping.shipments WHERE package_id = $1', [data.id]);
    return row!.n;
  },
};

/** The shipment of a paid probe order, picked, packed and handed to the carrier through Fulfillment's API. */
export async function shipProbeOrder(api: AuditApi): Promise<ShipmentView> {
  const fulfillment = await probeFulfillment(api);
  for (const status of ['picking', 'packed', 'shipped']) {
    await expectStatus(api, 'fulfillment', 'POST', `/fulfillment/fulfillments/${fulfillment.id}/status`, { status }, [200]);
  }
  return pollUntil(`a shipment of order ${fulfillment.orderId}`, async () => {
    const { shipments } = await expectStatus<{ shipments: ShipmentView[] }>(api, 'shipping', 'GET', `/shipping/shipments?orderId=${fulfillment.orderId}`, undefined, [200]);
    return shipments[0];
  });
}

/** Shipping's audit: a carrier update of a real order's shipment (shipping.shipment.status-changed, consumed by Order), and booking a package. */
export const shippingAudit: ModuleAudit = {
  produce: {
    async run(api) {
      const shipment = await shipProbeOrder(api);
      await expectStatus(api, 'shipping', 'POST', `/shipping/shipments/${shipment.id}/status`, { status: 'in-transit' }, [200]);
      return { topic: shipmentStatusChanged, key: shipment.id };
    },
  },
  consume: consumePackage,
};
