/**
 * Customer: owns shopper profiles (name, contact, default shipping address, marketing consent,
 * segment). Creates a profile for every account Auth registers (or links the one made through
 * the API with that email), follows verification, sign-ins, Loyalty's tier and Notification's
 * hard bounces, and erases personal data on request. Every change is published through its
 * outbox, from a consumer too (in the consumer's own transaction: `producer.publishWithin`).
 *
 * Owns:      customer.customers, customer.bounces (customers.ts)
 * Publishes: customer.customer.created / updated / deleted (platform/contracts/customer.ts)
 * Keeps a copy of: nothing; acts on auth.account.registered / email-verified / logged-in,
 *                  loyalty.account.tier-changed, notification.message.failed (events.ts)
 * Conflict rule: per fact: a registration links once (a repeat is `stale`), verification is
 *                once, the last sign-in is the latest seen, the tier is version-based on
 *                Loyalty's account version.
 *
 * `accountId` of a profile made through the API before its account exists: the contract
 * requires one, so the events carry the profile's own id until an account registers with its
 * email; then `customer.customer.updated` carries the real account id (the API shows null).
 */
import { customerTopics } from '../../contracts/customer.js';
import type { PlatformModule } from '../../host/module.js';
import { customerAudit } from './audit.js';
import { customerTables } from './customers.js';
import { customerHandlers } from './events.js';
import { customerRoutes } from './routes.js';
import { systemErrorReported } from '../../contracts/notification.js';

export const customerModule: PlatformModule = {
  name: 'customer',
  summary: 'Shopper profiles: created on registration, erased on request; follows sign-ins, loyalty tier and bounces',
  migrations: [customerTables],
  // every consumer's dead letters are reported to Notification (platform/host/run.ts)
  publishes: [...customerTopics, systemErrorReported],
  mount: '/customers',
  build(ctx) {
    return {
      handlers: customerHandlers(ctx.producer),
      routes: customerRoutes({ producer: ctx.producer, db: ctx.pool }),
    };
  },
  audit: customerAudit,
};
