/**
 * Every topic of the reference platform, declared once with its schema, owner and audience
 * (DESIGN.md section 3), and which service publishes and subscribes to which (the seed's
 * section 7, Service Participation). Services import topic constants from here, so a misspelt
 * topic is a compile error.
 */
import { ContractRegistry, type AnyTopic } from 'datasync/core';
import { accountEmailVerified, accountLoggedIn, accountRegistered, authTopics } from './auth.js';
import { catalogTopics } from './catalog.js';
import { checkoutAbandoned, checkoutTopics } from './checkout.js';
import { cmsTopics, pagePublished, pageUnpublished } from './cms.js';
import { customerCreated, customerDeleted, customerTopics, customerUpdated } from './customer.js';
import { fulfillmentStatusChanged, fulfillmentTopics, packageStatusChanged } from './fulfillment.js';
import { locationCreated, locationTopics, locationUpdated } from './location.js';
import { loyaltyTopics, tierChanged } from './loyalty.js';
import { messageFailed, messageSent, notificationTopics, systemErrorReported } from './notification.js';
import { orderPlaced, orderStatusChanged, orderTopics } from './order.js';
import { paymentCaptured, paymentFailed, paymentTopics, webhookReceived } from './payment.js';
import { priceUpdated, pricingTopics } from './pricing.js';
import { promotionCreated, promotionDeleted, promotionTopics, promotionUpdated } from './promotion.js';
import { returnReceived, returnTopics } from './return.js';
import { reviewModerated, reviewTopics } from './review.js';
import { productInvalidated, searchTopics } from './search.js';
import { shipmentStatusChanged, shippingTopics } from './shipping.js';
import { pageViewed, storefrontTopics } from './storefront.js';
import { userTopics, userUpdated } from './user.js';
import { stockChanged, warehouseTopics } from './warehouse.js';

export * from './auth.js';
export * from './catalog.js';
export * from './checkout.js';
export * from './cms.js';
export * from './customer.js';
export * from './fulfillment.js';
export * from './location.js';
export * from './loyalty.js';
export * from './notification.js';
export * from './order.js';
export * from './payment.js';
export * from './pricing.js';
export * from './promotion.js';
export * from './return.js';
export * from './review.js';
export * from './search.js';
export * from './shipping.js';
export * from './storefront.js';
export * from './user.js';
export * from './warehouse.js';

/** Every topic, grouped by owner. */
export const allTopics: readonly AnyTopic[] = [
  ...catalogTopics, ...pricingTopics, ...warehouseTopics, ...orderTopics, ...checkoutTopics, ...paymentTopics,
  ...fulfillmentTopics, ...shippingTopics, ...authTopics, ...customerTopics, ...notificationTopics, ...promotionTopics,
  ...returnTopics, ...userTopics, ...reviewTopics, ...loyaltyTopics, ...locationTopics, ...searchTopics, ...cmsTopics,
  ...storefrontTopics,
];

/** All topics of the platform, looked up by name (a topic declared twice fails here). */
export const platformContracts = new ContractRegistry(allTopics);

/** One service of the platform: the topics it publishes and those it keeps a copy of or acts on. */
export interface PlatformService {
  readonly name: string;
  /** Topics it may publish; each lists it among its `publishers`. */
  readonly publishes: readonly AnyTopic[];
  /** Topics it consumes; each lists it among its `subscribers`. */
  readonly subscribes: readonly AnyTopic[];
}

const productEvents = catalogTopics;
const orderEvents = [orderPlaced, orderStatusChanged];
const customerEvents = [customerCreated, customerUpdated, customerDeleted];

/**
 * The platform's topology: the seed's 20 services (section 7's table) plus the two producers
 * outside it that its consumers need, the CMS (content for Search) and a storefront app (page
 * views for Analytics; the Gateway publishes those of the product pages it serves).
 * `datasync check` verifies it against the contracts: every subscription has a producer here,
 * every published topic is declared and names its publisher. Every service of the seed's table
 * but the Gateway both produces and consumes, so `datasync audit` can probe every cell.
 */
export const platformServices: readonly PlatformService[] = [
  // every service that consumes events also reports what it cannot handle (systemErrorReported, notification.ts)
  { name: 'catalog', publishes: [...catalogTopics, systemErrorReported], subscribes: [priceUpdated, stockChanged, reviewModerated] },
  {
    name: 'search',
    publishes: [productInvalidated, systemErrorReported],
    subscribes: [...productEvents, priceUpdated, stockChanged, pagePublished, pageUnpublished],
  },
  {
    name: 'warehouse',
    publishes: [...warehouseTopics, systemErrorReported],
    subscribes: [...orderEvents, fulfillmentStatusChanged, ...productEvents, returnReceived],
  },
  { name: 'pricing', publishes: [...pricingTopics, systemErrorReported], subscribes: [stockChanged, promotionCreated, promotionUpdated, promotionDeleted] },
  { name: 'analytics', publishes: [systemErrorReported], subscribes: [...orderEvents, ...productEvents, ...customerEvents, pageViewed] },
  {
    name: 'order',
    publishes: [...orderTopics, systemErrorReported],
    subscribes: [...productEvents, priceUpdated, ...customerEvents, paymentCaptured, paymentFailed, shipmentStatusChanged],
  },
  { name: 'checkout', publishes: [...checkoutTopics, systemErrorReported], subscribes: [priceUpdated, stockChanged] },
  { name: 'payment', publishes: [...paymentTopics, systemErrorReported], subscribes: [webhookReceived, returnReceived] },
  { name: 'fulfillment', publishes: [...fulfillmentTopics, systemErrorReported], subscribes: [...orderEvents, locationCreated, locationUpdated] },
  { name: 'shipping', publishes: [...shippingTopics, systemErrorReported], subscribes: [packageStatusChanged] },
  {
    name: 'customer',
    publishes: [...customerTopics, systemErrorReported],
    subscribes: [accountRegistered, accountEmailVerified, accountLoggedIn, tierChanged, messageFailed],
  },
  { name: 'notification', publishes: [messageSent, messageFailed], subscribes: [systemErrorReported, checkoutAbandoned, shipmentStatusChanged] },
  { name: 'promotion', publishes: [...promotionTopics, systemErrorReported], subscribes: productEvents },
  { name: 'return', publishes: [...returnTopics, systemErrorReported], subscribes: orderEvents },
  { name: 'auth', publishes: [...authTopics, systemErrorReported], subscribes: [userUpdated] },
  { name: 'user', publishes: [...userTopics, systemErrorReported], subscribes: [accountRegistered, accountEmailVerified, accountLoggedIn] },
  { name: 'review', publishes: [...reviewTopics, systemErrorReported], subscribes: [...productEvents, orderPlaced] },
  { name: 'loyalty', publishes: [...loyaltyTopics, systemErrorReported], subscribes: orderEvents },
  { name: 'location', publishes: [...locationTopics, systemErrorReported], subscribes: [stockChanged] },
  { name: 'gateway', publishes: [pageViewed], subscribes: [productInvalidated] },
  { name: 'cms', publishes: cmsTopics, subscribes: [] },
  { name: 'storefront', publishes: storefrontTopics, subscribes: [] },
];
