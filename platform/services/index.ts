/**
 * Every service of the platform, in the order the host starts them (platform/host/run.ts):
 * the seed's 20 services of section 7, the Gateway and the CMS.
 */
import type { PlatformModule } from '../host/module.js';
import { analyticsModule } from './analytics/index.js';
import { authModule } from './auth/index.js';
import { catalogModule } from './catalog/index.js';
import { checkoutModule } from './checkout/index.js';
import { cmsModule } from './cms/index.js';
import { customerModule } from './customer/index.js';
import { fulfillmentModule } from './fulfillment/index.js';
import { gatewayModule } from './gateway/index.js';
import { locationModule } from './location/index.js';
import { loyaltyModule } from './loyalty/index.js';
import { notificationModule } from './notification/index.js';
import { orderModule } from './order/index.js';
import { paymentModule } from './payment/index.js';
import { pricingModule } from './pricing/index.js';
import { promotionModule } from './promotion/index.js';
import { returnModule } from './return/index.js';
import { reviewModule } from './review/index.js';
import { searchModule } from './search/index.js';
import { shippingModule } from './shipping/index.js';
import { userModule } from './user/index.js';
import { warehouseModule } from './warehouse/index.js';

export const platformModules: readonly PlatformModule[] = [
  catalogModule, searchModule, warehouseModule, pricingModule, analyticsModule, orderModule, checkoutModule, paymentModule,
  fulfillmentModule, shippingModule, customerModule, notificationModule, promotionModule, returnModule, authModule, userModule,
  reviewModule, loyaltyModule, locationModule, gatewayModule, cmsModule,
];

/** The module named `name`; undefined if there is none. */
export function findModule(name: string): PlatformModule | undefined {
  return platformModules.find((module) => module.name === name);
}
